package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/silo-datasets/silo"
	siloclient "github.com/silo-datasets/silo/client"
)

// tus is workload 9 (issue 24): the same file sent as a resumable upload
// against one POST with a Content-Length, and a chunked POST against one
// with a Content-Length. Every upload is followed by its validation and a
// delete before the next starts, so that no validation competes with a
// measured upload; the kinds alternate which goes first.
func (b *bench) tus() error {
	file, err := b.dataFile("chat", b.sz.Upload)
	if err != nil {
		return err
	}
	size := fileSize(file)
	s, err := b.siloServer("silo-tus", filepath.Join(b.tmp, "tus"))
	if err != nil {
		return err
	}
	defer s.stop()
	c := newClient(s.url(), adminKey)
	chunk := int64(64 << 20)
	if b.smoke {
		chunk = 1 << 20
	}
	kinds := map[string]func() (string, time.Duration, error){
		"post": func() (string, time.Duration, error) { return curlCreate(c, file, true) },
		"chunked": func() (string, time.Duration, error) {
			return curlCreate(c, file, false)
		},
		"cli": func() (string, time.Duration, error) { return b.cliUpload(c, file, chunk) },
		"parallel": func() (string, time.Duration, error) {
			return parallelTus(c, file, size, chunk, 4)
		},
	}
	took := map[string][]float64{}
	for round := range b.sz.Rounds {
		order := []string{"post", "chunked", "cli", "parallel"}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, name := range order {
			id, d, err := kinds[name]()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if _, err := c.waitFinal(id, 30*time.Minute); err != nil {
				return err
			}
			if err := c.delete(id); err != nil {
				return err
			}
			took[name] = append(took[name], mbps(size, d))
		}
	}
	w := "9 resumable"
	post := median(took["post"])
	b.ratioRow(w, fmt.Sprintf("`silo datasets upload` of %s as a resumable upload in %s chunks, each with its SHA-256, until the dataset exists", fmtMiB(size), fmtMiB(chunk)),
		fmtMBps(median(took["cli"])), fmtMBps(post)+" one POST with Content-Length (curl)", median(took["cli"])/post, ">=", 0.8)
	b.ratioRow(w, "the same file in 4 parallel partial uploads (concatenation), then the final upload", fmtMBps(median(took["parallel"])),
		fmtMBps(post)+" one POST", median(took["parallel"])/post, ">=", 1.0)
	b.ratioRow(w, "a chunked POST /v1/datasets (no Content-Length, curl) until 200", fmtMBps(median(took["chunked"])),
		fmtMBps(post)+" with Content-Length", median(took["chunked"])/post, ">=", 0.9)
	if err := b.tusScaleOut(file, chunk); err != nil {
		return err
	}
	b.note("workload 9 MB/s per round: post %s; chunked %s; cli %s; parallel %s", fmtList("%.0f", took["post"]),
		fmtList("%.0f", took["chunked"]), fmtList("%.0f", took["cli"]), fmtList("%.0f", took["parallel"]))
	return nil
}

// curlCreate sends a create with curl (a Go client's chunked body is itself
// slow, TESTING.md), with or without a Content-Length.
func curlCreate(c *client, file string, sized bool) (string, time.Duration, error) {
	args := []string{"-s", "-f", "-H", "Authorization: Bearer " + c.key, "-F", "data=@" + file,
		c.base + "/v1/datasets?name=bench&type=" + string(silo.TypeChatFinetune)}
	if !sized {
		args = append([]string{"-H", "Transfer-Encoding: chunked"}, args...)
	}
	start := time.Now()
	out, err := exec.Command("curl", args...).Output()
	took := time.Since(start)
	if err != nil {
		return "", 0, fmt.Errorf("curl: %w", err)
	}
	id := jsonField(string(out), "id")
	if id == "" {
		return "", 0, fmt.Errorf("curl: no id in %q", out)
	}
	return id, took, nil
}

func jsonField(s, name string) string {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return ""
	}
	v, _ := m[name].(string)
	return v
}

// cliUpload runs the real `silo datasets upload`, which goes resumable for a
// file over --chunk-size.
func (b *bench) cliUpload(c *client, file string, chunk int64) (string, time.Duration, error) {
	cmd := exec.Command(b.siloBin, "datasets", "upload", file, "--name", "bench", "--type", string(silo.TypeChatFinetune),
		"--chunk-size", fmt.Sprint(chunk), "--json")
	cmd.Env = append(os.Environ(), "SILO_URL="+c.base, "SILO_API_KEY="+c.key, "XDG_CACHE_HOME="+filepath.Join(os.TempDir(), "silo-bench-cache"))
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		return "", 0, fmt.Errorf("silo datasets upload: %w", err)
	}
	id := jsonField(string(out), "id")
	if id == "" {
		return "", 0, fmt.Errorf("silo datasets upload: no id in %q", out)
	}
	return id, took, nil
}

// parallelTus sends the file in n partial uploads at once (each in chunks
// with their SHA-256), then the final upload that makes the dataset.
func parallelTus(c *client, file string, size, chunk int64, n int) (string, time.Duration, error) {
	ctx := context.Background()
	sc := siloclient.New(c.base, c.key)
	fh, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	start := time.Now()
	urls := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		from, to := size*int64(i)/int64(n), size*int64(i+1)/int64(n)
		go func() {
			req, err := sc.CreateTusPartial(ctx, to-from)
			if err != nil {
				errs <- err
				return
			}
			urls[i] = req.URL
			for off := int64(0); off < to-from; {
				m := min(chunk, to-from-off)
				h := sha256.New()
				io.Copy(h, io.NewSectionReader(fh, from+off, m))
				t, err := sc.PatchTus(ctx, req.URL, off, io.NewSectionReader(fh, from+off, m), m, h.Sum(nil))
				if err != nil {
					errs <- err
					return
				}
				off = t.Offset
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return "", 0, err
		}
	}
	t, err := sc.ConcatTus(ctx, urls, map[string]string{"name": "bench", "type": string(silo.TypeChatFinetune), "filename": filepath.Base(file)})
	if err != nil {
		return "", 0, err
	}
	return t.DatasetID, time.Since(start), nil
}

// tusScaleOut is workload 9's scale-out row: the file as a resumable upload
// through two nodes on PostgreSQL + versitygw, its chunks alternating
// between them, against one POST to one node. Reported, no target.
func (b *bench) tusScaleOut(file string, chunk int64) error {
	procs, _, err := b.cluster("tus-node", 2)
	if err != nil {
		return err
	}
	defer stopAll(procs)
	var nodes []*client
	for _, p := range procs {
		nodes = append(nodes, newClient(p.url(), adminKey))
	}
	size := fileSize(file)
	var post, alt []float64
	for round := range b.sz.Rounds {
		for _, kind := range inTurn(round, "post", "tus") {
			var id string
			var d time.Duration
			if kind == "post" {
				id, d, err = curlCreate(nodes[0], file, true)
			} else {
				id, d, err = alternatingTus(nodes, file, size, chunk)
			}
			if err != nil {
				return fmt.Errorf("scale-out %s: %w", kind, err)
			}
			if _, err := nodes[0].waitFinal(id, 30*time.Minute); err != nil {
				return err
			}
			if err := nodes[0].delete(id); err != nil {
				return err
			}
			if kind == "post" {
				post = append(post, mbps(size, d))
			} else {
				alt = append(alt, mbps(size, d))
			}
		}
	}
	b.ratioRow("9 resumable", fmt.Sprintf("scale-out: %s resumable through 2 nodes on PostgreSQL + versitygw, %s chunks alternating nodes", fmtMiB(size), fmtMiB(chunk)),
		fmtMBps(median(alt)), fmtMBps(median(post))+" one POST to one node", median(alt)/median(post), "", 0)
	return nil
}

// alternatingTus sends the file in chunks, each PATCH to the other node.
func alternatingTus(nodes []*client, file string, size, chunk int64) (string, time.Duration, error) {
	ctx := context.Background()
	fh, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	start := time.Now()
	up, err := siloclient.New(nodes[0].base, nodes[0].key).CreateTus(ctx, size,
		map[string]string{"name": "bench", "type": string(silo.TypeChatFinetune), "filename": filepath.Base(file)})
	if err != nil {
		return "", 0, err
	}
	path := up.URL[strings.Index(up.URL, "/v1/uploads/"):]
	var t *siloclient.Tus
	for i, off := 0, int64(0); off < size; i++ {
		n := nodes[i%len(nodes)]
		m := min(chunk, size-off)
		h := sha256.New()
		io.Copy(h, io.NewSectionReader(fh, off, m))
		t, err = siloclient.New(n.base, n.key).PatchTus(ctx, n.base+path, off, io.NewSectionReader(fh, off, m), m, h.Sum(nil))
		if err != nil {
			return "", 0, err
		}
		off = t.Offset
	}
	return t.DatasetID, time.Since(start), nil
}
