package silo

import "context"

// AuthenticateAPI authenticates a /v1 request: AuthenticateWithOrg (the key
// and its org's row in one query), then a metrics key is refused
// (EFORBIDDEN) whatever the route, known or not, so that a scraper's key
// can read nothing but /metrics.
func (s *Service) AuthenticateAPI(ctx context.Context, secret string) (*Key, *Org, error) {
	k, o, err := s.AuthenticateWithOrg(ctx, secret)
	if err != nil {
		return nil, nil, err
	}
	if k.Role == RoleMetrics {
		return nil, nil, Errorf(EFORBIDDEN, "this api key has role %q: it may read /metrics and nothing else", k.Role)
	}
	return k, o, nil
}

// AuthorizeMetrics lets an admin key or a metrics key read /metrics: the
// metrics name every organisation and its usage, so no org's own key may.
func (s *Service) AuthorizeMetrics(ctx context.Context, secret string) error {
	k, err := s.Authenticate(ctx, secret)
	if err != nil {
		return err
	}
	if !k.Role.Includes(RoleMetrics) {
		return Errorf(EFORBIDDEN, "this api key has role %q; /metrics needs an admin key or a key of role metrics", k.Role)
	}
	return nil
}
