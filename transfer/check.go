package transfer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
)

// contents checks what a backup or a migration carries, record by record,
// beyond checksums: a manifest recomputed over tampered metadata passes
// every checksum, so the records must also agree with each other and with
// the files. It refuses ids and names that silo never writes (no NUL, valid
// UTF-8), projects, keys, datasets and jobs of an organisation or dataset
// that is not there, a dataset or live key of a project that is not its
// organisation's (a deleted project's keys stay, revoked), and a blob that
// two parts claim (usage samples are not tied to their organisation in the
// schema, and a stray one harms nothing); check then compares every
// organisation's and every project's usage with the sum of its datasets'
// sizes. files lists every blob the datasets refer to, with the size and
// SHA-256 their parts recorded.
type contents struct {
	used map[string]int64 // org id -> usage_bytes recorded
	sums map[string]int64 // org id -> sum of its datasets' sizes
	orgs []string         // in the order they came, for a stable first error
	// The same of projects (CONTRACT "Projects"), and each one's org.
	projectUsed map[string]int64
	projectSums map[string]int64
	projectOrg  map[string]string
	projects    []string
	datasets    map[string]bool
	files       map[string]fileRef
	// fileOrder is the keys of files as the datasets came, so that the
	// first missing file named is the same every time.
	fileOrder []string
}

// fileRef is a blob as the metadata records it.
type fileRef struct {
	silo.LiveBlob
	dataset string
}

func newContents() *contents {
	return &contents{used: map[string]int64{}, sums: map[string]int64{}, datasets: map[string]bool{}, files: map[string]fileRef{},
		projectUsed: map[string]int64{}, projectSums: map[string]int64{}, projectOrg: map[string]string{}}
}

// add checks one record and takes note of what it holds.
func (c *contents) add(r *silo.Record) error {
	switch {
	case r.Setting != nil:
		return validName("setting", r.Setting.Name, "name", r.Setting.Name)
	case r.Org != nil:
		return c.addOrg(r.Org)
	case r.Project != nil:
		return c.addProject(r.Project)
	case r.Threshold != nil:
		return firstOf(c.orgOf("usage threshold", r.Threshold.OrgID, r.Threshold.OrgID),
			c.projectOf("usage threshold", r.Threshold.OrgID, r.Threshold.OrgID, r.Threshold.ProjectID))
	case r.Key != nil:
		err := firstOf(validID("key", r.Key.ID), c.orgOf("key", r.Key.ID, r.Key.OrgID),
			validName("key", r.Key.ID, "name", r.Key.Name))
		if err != nil || r.Key.RevokedAt != nil {
			return err
		}
		return c.projectOf("key", r.Key.ID, r.Key.OrgID, r.Key.ProjectID)
	case r.Dataset != nil:
		return c.addDataset(r.Dataset)
	case r.Job != nil:
		if !c.datasets[r.Job.DatasetID] {
			return fmt.Errorf("the validation job of dataset %q refers to no dataset", r.Job.DatasetID)
		}
		return c.orgOf("validation job", r.Job.DatasetID, r.Job.OrgID)
	case r.Webhook != nil:
		if r.Webhook.OrgID == "" {
			return validID("webhook", r.Webhook.ID)
		}
		return firstOf(validID("webhook", r.Webhook.ID), c.orgOf("webhook", r.Webhook.ID, r.Webhook.OrgID))
	case r.Idempotency != nil:
		i := r.Idempotency
		return firstOf(c.orgOf("idempotency record", i.Key, i.OrgID), validName("idempotency record", i.Key, "key", i.Key))
	}
	return nil
}

func (c *contents) addOrg(o *silo.Org) error {
	if err := firstOf(validID("organisation", o.ID), validName("organisation", o.ID, "name", o.Name)); err != nil {
		return err
	}
	if _, ok := c.used[o.ID]; ok {
		return fmt.Errorf("organisation %s is there twice", o.ID)
	}
	c.used[o.ID] = o.UsedBytes
	c.orgs = append(c.orgs, o.ID)
	return nil
}

func (c *contents) addProject(p *silo.Project) error {
	err := firstOf(validID("project", p.ID), c.orgOf("project", p.ID, p.OrgID), validName("project", p.ID, "name", p.Name))
	if err != nil {
		return err
	}
	if _, ok := c.projectUsed[p.ID]; ok {
		return fmt.Errorf("project %s is there twice", p.ID)
	}
	c.projectUsed[p.ID] = p.UsedBytes
	c.projectOrg[p.ID] = p.OrgID
	c.projects = append(c.projects, p.ID)
	return nil
}

func (c *contents) addDataset(d *silo.Dataset) error {
	err := firstOf(validID("dataset", d.ID), c.orgOf("dataset", d.ID, d.OrgID), validName("dataset", d.ID, "name", d.Name),
		c.projectOf("dataset", d.ID, d.OrgID, d.ProjectID))
	if err != nil {
		return err
	}
	if c.datasets[d.ID] {
		return fmt.Errorf("dataset %s is there twice", d.ID)
	}
	if d.SizeBytes < 0 {
		return fmt.Errorf("dataset %s has a negative size %d", d.ID, d.SizeBytes)
	}
	c.datasets[d.ID] = true
	c.sums[d.OrgID] += d.SizeBytes
	if d.ProjectID != "" {
		c.projectSums[d.ProjectID] += d.SizeBytes
	}
	for _, p := range d.Parts {
		if err := firstOf(validID("a part of dataset "+d.ID, p.ID), validName("dataset", d.ID, "part name", p.Name)); err != nil {
			return err
		}
	}
	for _, b := range d.LiveBlobs() {
		if !silo.ValidBlobKey(b.Key) {
			return fmt.Errorf("dataset %s refers to file %q, which is not a blob silo writes", d.ID, b.Key)
		}
		if b.Size < 0 {
			return fmt.Errorf("dataset %s records a negative size for file %s", d.ID, b.Key)
		}
		if prev, ok := c.files[b.Key]; ok {
			return fmt.Errorf("file %s belongs to both dataset %s and dataset %s", b.Key, prev.dataset, d.ID)
		}
		c.files[b.Key] = fileRef{b, d.ID}
		c.fileOrder = append(c.fileOrder, b.Key)
	}
	return nil
}

// orgOf refuses a record of an organisation that did not come before it
// (records come parents first).
func (c *contents) orgOf(kind, id, org string) error {
	if _, ok := c.used[org]; !ok {
		return fmt.Errorf("%s %q belongs to organisation %q, which is not there", kind, id, org)
	}
	return nil
}

// projectOf refuses a record of a project ("": none) that did not come
// before it or is another organisation's.
func (c *contents) projectOf(kind, id, org, project string) error {
	if project == "" {
		return nil
	}
	switch po, ok := c.projectOrg[project]; {
	case !ok:
		return fmt.Errorf("%s %q belongs to project %q, which is not there", kind, id, project)
	case po != org:
		return fmt.Errorf("%s %q of organisation %q belongs to project %q of organisation %q", kind, id, org, project, po)
	}
	return nil
}

// check is what can be told only once every record is in: each
// organisation's and each project's usage is the sum of its datasets'
// sizes.
func (c *contents) check() error {
	for _, id := range c.orgs {
		if c.used[id] != c.sums[id] {
			return fmt.Errorf("organisation %s: usage_bytes is %d but its datasets sum to %d", id, c.used[id], c.sums[id])
		}
	}
	for _, id := range c.projects {
		if c.projectUsed[id] != c.projectSums[id] {
			return fmt.Errorf("project %s: usage_bytes is %d but its datasets sum to %d", id, c.projectUsed[id], c.projectSums[id])
		}
	}
	return nil
}

// matchFiles compares the files a backup's manifest lists (its metadata
// file left out) with the ones the metadata refers to: the same keys, each
// with the size and SHA-256 its part recorded, and nothing else.
func (c *contents) matchFiles(files []File) error {
	listed := map[string]bool{}
	for _, f := range files {
		key, ok := strings.CutPrefix(f.Name, blobPrefix)
		ref, referred := c.files[key]
		switch {
		case !ok || !referred:
			return fmt.Errorf("backup file %s is not a file of any dataset in its metadata", f.Name)
		case f.Size != ref.Size || f.SHA256 != ref.SHA256:
			return fmt.Errorf("backup file %s is %d bytes with SHA-256 %s, but dataset %s records %d bytes with SHA-256 %s",
				f.Name, f.Size, f.SHA256, ref.dataset, ref.Size, ref.SHA256)
		}
		listed[key] = true
	}
	for _, id := range c.fileOrder {
		if !listed[id] {
			return fmt.Errorf("dataset %s refers to file %s%s, which is not in the backup", c.files[id].dataset, blobPrefix, id)
		}
	}
	return nil
}

// validID refuses an id silo never makes: empty, over 256 bytes, or with
// anything but printable ASCII other than a space or a slash (ids go into
// URL paths and file names).
func validID(kind, id string) error {
	ok := id != "" && len(id) <= 256
	for i := 0; ok && i < len(id); i++ {
		ok = id[i] > ' ' && id[i] < 0x7f && id[i] != '/'
	}
	if !ok {
		return fmt.Errorf("%s id %q is not valid", kind, id)
	}
	return nil
}

// validName refuses a name silo's API never accepts: invalid UTF-8 or a
// NUL (which PostgreSQL cannot store, and which cuts C strings short).
func validName(kind, id, field, name string) error {
	switch {
	case !utf8.ValidString(name):
		return fmt.Errorf("%s %q: its %s is not valid UTF-8", kind, id, field)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%s %q: its %s %q holds a NUL character", kind, id, field, name)
	}
	return nil
}

func firstOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
