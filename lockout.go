package silo

import "context"

// An operator cannot lock themselves out: the stores keep the last
// unrevoked admin key (ErrLastAdmin), and RecoverAdmin is the way back when
// the keys are lost all the same (a leaked key revoked in a hurry, a
// forgotten secret).

// RecoveredOrgName is the organisation RecoverAdmin puts its key in: the
// one bootstrap made, created again if it was deleted.
const RecoveredOrgName = "default"

// RecoverAdmin creates a new admin key, without a caller: it is for `silo
// admin recover`, which only someone with the server's data directory or
// database URL can run, on the server's machine. The key goes in the org
// named "default" (created with the default quota if there is none). The
// returned key holds its secret, which exists nowhere else.
func (s *Service) RecoverAdmin(ctx context.Context) (*Key, *Org, error) {
	orgs, err := s.Store.Orgs(ctx)
	if err != nil {
		return nil, nil, err
	}
	var org *Org
	for _, o := range orgs {
		if o.Name == RecoveredOrgName {
			org = o
			break
		}
	}
	if org == nil {
		org = &Org{ID: NewID("org_"), Name: RecoveredOrgName, QuotaBytes: s.defaultQuota(), CreatedAt: s.now()}
		if err := s.Store.CreateOrg(ctx, org); err != nil {
			return nil, nil, err
		}
	}
	secret := NewSecret()
	k := &Key{ID: NewID("key_"), OrgID: org.ID, Role: RoleAdmin, Name: "recovered", Hash: HashSecret(secret), CreatedAt: s.now()}
	if err := s.Store.CreateKey(ctx, k); err != nil {
		return nil, nil, err
	}
	k.Secret = secret
	return k, org, nil
}
