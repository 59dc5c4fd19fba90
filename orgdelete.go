package silo

import (
	"context"
	"errors"
)

// DeleteOrg deletes an organisation. Without purge it refuses (ECONFLICT)
// while the org holds datasets or uploads in flight, so that an operator
// never throws data away by mistake; with purge its datasets go too, usage
// with them. Either way its keys are revoked (they answer 498 from then on),
// all in one store transaction: a client sees the org whole or gone. The
// answer follows that commit; the files, garbage in the ledger from then
// on, are deleted by the sweep in the background, as a dataset delete's
// are: a large org's files would take longer than a request may, and a
// client retrying a delete that timed out would get 404 for one that
// happened.
//
// An admin cannot delete its own key's organisation: that would revoke the
// key it is using. Nor can the org holding the last unrevoked admin key go
// (the store checks that in the delete's transaction): no one could use the
// admin API any more.
func (s *Service) DeleteOrg(ctx context.Context, c *Caller, id string, purge bool) error {
	if err := require(c, RoleAdmin); err != nil {
		return err
	}
	if id == c.OrgID() {
		return Errorf(ECONFLICT, "organization %s is the one of the API key making this request; delete it with an admin key of another organization", id)
	}
	removed, err := s.Store.DeleteOrg(ctx, id, purge, s.now())
	if errors.Is(err, ErrLastAdmin) {
		return Errorf(ECONFLICT, "organization %s holds the last admin key that is not revoked: deleting it would lock every operator out. Create an admin key in another organization first.", id)
	}
	switch ErrorCode(err) {
	case "":
	case ENOTFOUND:
		return Errorf(ENOTFOUND, "organization %s not found", id)
	case ECONFLICT:
		return Errorf(ECONFLICT, "organization %s still holds datasets (or uploads in progress); delete them first, or delete with purge=true to delete them too", id)
	default:
		return err
	}
	s.eventsCommitted()
	var bytes int64
	for _, d := range removed {
		bytes += d.SizeBytes
	}
	s.log().Info("organization deleted", "org", id, "purge", purge, "datasets", len(removed), "bytes", bytes, "by_key", c.Key.ID)
	s.kickSweep()
	return nil
}
