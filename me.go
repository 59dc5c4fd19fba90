package silo

import (
	"context"
	"time"
)

// Me returns who the caller is: its key (never the secret) and the key's
// organisation, so that a client (the dashboard's header) can say which org
// and role it acts as.
func (s *Service) Me(ctx context.Context, c *Caller) (*Key, *Org, error) {
	if err := require(c, RoleReader); err != nil {
		return nil, nil, err
	}
	org, err := s.Store.Org(ctx, c.OrgID())
	if err != nil {
		return nil, nil, err
	}
	return c.Key, org, nil
}

// OrgUsageHistory is UsageHistory of any organisation: the caller's own
// (orgID "" or its own id) with any role that reads, another one with an
// admin key only (the dashboard's all-organisations view draws them).
func (s *Service) OrgUsageHistory(ctx context.Context, c *Caller, orgID string, since time.Time, limit int) ([]UsageSample, error) {
	if err := s.AuthorizeOrgRead(c, orgID); err != nil {
		return nil, err
	}
	if orgID == "" || orgID == c.OrgID() {
		return s.UsageHistory(ctx, c, since, limit)
	}
	if _, err := s.Store.Org(ctx, orgID); ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "organization %s not found", orgID)
	} else if err != nil {
		return nil, err
	}
	return s.Store.UsageHistory(ctx, orgID, since, limit)
}
