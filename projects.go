package silo

import (
	"context"
	"strings"
)

// Projects (CONTRACT "Projects: quotas inside an organisation"): an
// organisation's keys may be bound to one of its projects. Such a key
// sees and changes its project's datasets and uploads only (another
// project's are not found, exactly as another organisation's), its
// creates belong to the project, and every byte they reserve is checked
// against the project's quota and the organisation's in one store step
// (Store.Reserve, CreateUpload). A key of no project sees the whole
// organisation and its creates belong to no project.
//
// Project keys are reader or writer keys: admin and metrics keys act
// across organisations, so a project could not bound them.

// ProjectID is the project the caller's key is bound to; "" for a key of
// the whole organisation.
func (c *Caller) ProjectID() string { return c.Key.ProjectID }

// sees reports whether the caller may see what belongs to projectID ("":
// the organisation's own): a project key sees its project's only.
func (c *Caller) sees(projectID string) bool {
	return c.Key.ProjectID == "" || c.Key.ProjectID == projectID
}

// MaxProjectNameLength bounds project names.
const MaxProjectNameLength = MaxOrgNameLength

// CreateProject creates a project in orgID; quota nil means none of its
// own (the organisation's quota still caps it).
func (s *Service) CreateProject(ctx context.Context, c *Caller, orgID, name string, quota *int64) (*Project, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	switch {
	case orgID == "":
		return nil, Errorf(EUNPROCESSABLE, "org_id is required")
	case name == "" || len(name) > MaxProjectNameLength:
		return nil, Errorf(EUNPROCESSABLE, "name must be 1 to %d characters", MaxProjectNameLength)
	case quota != nil && *quota < 0:
		return nil, Errorf(EUNPROCESSABLE, "quota_bytes must not be negative")
	}
	p := &Project{ID: NewID("prj_"), OrgID: orgID, Name: name, QuotaBytes: quota, CreatedAt: s.now()}
	switch err := s.Store.CreateProject(ctx, p); ErrorCode(err) {
	case "":
		return p, nil
	case ENOTFOUND:
		return nil, Errorf(EUNPROCESSABLE, "organization %q does not exist", orgID)
	case ECONFLICT:
		return nil, Errorf(ECONFLICT, "organization %s has a project named %q already", orgID, name)
	default:
		return nil, err
	}
}

// Projects lists the projects of one organisation, or of all ("").
func (s *Service) Projects(ctx context.Context, c *Caller, orgID string) ([]*Project, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	return s.Store.Projects(ctx, orgID)
}

// Project returns one project.
func (s *Service) Project(ctx context.Context, c *Caller, id string) (*Project, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	p, err := s.Store.Project(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, projectNotFound(id)
	}
	return p, err
}

func projectNotFound(id string) error { return Errorf(ENOTFOUND, "project %s not found", id) }

// SetProjectQuota changes a project's quota (nil: none of its own).
// Lowering it below the project's usage is allowed: the project's creates
// are refused until its usage drops under it.
func (s *Service) SetProjectQuota(ctx context.Context, c *Caller, id string, quota *int64) (*Project, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	if quota != nil && *quota < 0 {
		return nil, Errorf(EUNPROCESSABLE, "quota_bytes must not be negative")
	}
	p, err := s.Store.SetProjectQuota(ctx, id, quota)
	if ErrorCode(err) == ENOTFOUND {
		return nil, projectNotFound(id)
	}
	return p, err
}

// DeleteProject deletes a project, as DeleteOrg deletes an organisation:
// without purge it refuses (ECONFLICT) while the project holds datasets or
// uploads in flight; with purge they go too. Either way its keys are
// revoked, in the same store transaction; the files are deleted by the
// sweep in the background.
func (s *Service) DeleteProject(ctx context.Context, c *Caller, id string, purge bool) error {
	if err := require(c, RoleAdmin); err != nil {
		return err
	}
	removed, err := s.Store.DeleteProject(ctx, id, purge, s.now())
	switch ErrorCode(err) {
	case "":
	case ENOTFOUND:
		return projectNotFound(id)
	case ECONFLICT:
		return Errorf(ECONFLICT, "project %s still holds datasets (or uploads in progress); delete them first, or delete with purge=true to delete them too", id)
	default:
		return err
	}
	var bytes int64
	for _, d := range removed {
		bytes += d.SizeBytes
	}
	s.log().Info("project deleted", "project", id, "purge", purge, "datasets", len(removed), "bytes", bytes, "by_key", c.Key.ID)
	s.kickSweep()
	return nil
}

// checkKeyProject checks a new key's project: one of the key's org, and
// only for the roles a project can bound.
func (s *Service) checkKeyProject(ctx context.Context, orgID, projectID string, role Role) error {
	if projectID == "" {
		return nil
	}
	if role != RoleReader && role != RoleWriter {
		return Errorf(EUNPROCESSABLE, "a key of a project must have role reader or writer, not %q: admin and metrics keys act across organizations", role)
	}
	p, err := s.Store.Project(ctx, projectID)
	if ErrorCode(err) == ENOTFOUND || err == nil && p.OrgID != orgID {
		return Errorf(EUNPROCESSABLE, "project %q is not a project of organization %q", projectID, orgID)
	}
	return err
}

// projectUsage is the caller's project with its counters, for a project
// key; nil for a key of the whole organisation. Like Usage it answers
// from the row read with the key when there is one.
func (s *Service) projectUsage(ctx context.Context, c *Caller) (*Project, error) {
	switch {
	case c.ProjectID() == "":
		return nil, nil
	case c.Key.Project != nil:
		return c.Key.Project, nil
	}
	return s.Store.Project(ctx, c.ProjectID())
}
