package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo/client"
)

func newDownloadCommand(f *clientFlags) *cobra.Command {
	var out string
	var eval, avro, force bool
	cmd := &cobra.Command{
		Use:   "download ID [-o FILE] [--force]",
		Short: "Download a dataset's uploaded file (or its eval file, or the validated Avro file)",
		Long: "Download the file uploaded as a dataset's data, byte for byte. With --eval, its evaluation file.\n" +
			"With --avro, or when the upload was created with keep_original_file=false, the Avro file\n" +
			"that validation wrote. -o - writes to standard output; -o DIR writes into DIR. An existing\n" +
			"file is never overwritten unless --force (exit 4).",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeDatasetIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, _, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			p, err := d.Part(eval)
			if err != nil {
				return withExit(exitNotFound, err)
			}
			u, err := p.DownloadURL(avro)
			if err != nil {
				return withExit(exitNotFound, err)
			}
			isAvro := u == p.URL
			out = outputPath(out, defaultName(p, isAvro))
			if err := mayWrite(out, force); err != nil {
				return err
			}
			body, n, err := c.Download(cmd.Context(), u)
			if err != nil {
				return err
			}
			defer body.Close()
			// The original's SHA-256 is in the dataset: check it on the way, so a
			// download that completes is the uploaded file, byte for byte.
			h := sha256.New()
			r, finish := progress(io.TeeReader(body, h), n, "downloading "+p.Name)
			written, err := writeOutput(cmd, out, force, 0o644, r, func() error {
				if isAvro || p.SHA256 == "" || hex.EncodeToString(h.Sum(nil)) == p.SHA256 {
					return nil
				}
				return fmt.Errorf("the download of %s does not match its SHA-256 %s", p.Name, p.SHA256)
			})
			finish()
			if err != nil {
				return err
			}
			if out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%s)\n", out, size(written))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default: the part's name in the current directory; - for standard output)")
	cmd.Flags().BoolVar(&eval, "eval", false, "download the evaluation file")
	cmd.Flags().BoolVar(&avro, "avro", false, "download the validated Avro file")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite the output file if it exists")
	return cmd
}

// defaultName is the part's name, made safe as a file name in the current
// directory (the name came from whoever uploaded it).
func defaultName(p *client.Part, avro bool) string {
	name := filepath.Base(strings.ReplaceAll(p.Name, "\\", "/"))
	if name == "." || name == "/" || name == "" || name == ".." {
		name = "data"
	}
	if avro {
		name = strings.TrimSuffix(name, filepath.Ext(name)) + ".avro"
	}
	return name
}

// outputPath is where a download goes: -o as given, into the directory -o
// names, or the part's name in the current directory.
func outputPath(out, name string) string {
	if out == "" {
		return name
	}
	if out != "-" {
		if st, err := os.Stat(out); err == nil && st.IsDir() {
			return filepath.Join(out, name)
		}
	}
	return out
}

// mayWrite refuses, before anything is downloaded, to replace an existing
// file without force.
func mayWrite(path string, force bool) error {
	if path == "-" || force {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return existsError(path)
	}
	return nil
}

func existsError(path string) error {
	return refusedf("%s exists already: pass --force to overwrite it, or -o another file", path)
}

// writeOutput copies r to path through a temporary file renamed into
// place, so an interrupted download never leaves a truncated file behind
// under the final name. check runs once every byte is read, before the
// file takes its name. Without force the file takes its name only if the
// name is still free (a hard link cannot replace a file, a rename can).
// The file has mode perm from its first byte: the temporary file is made
// 0600 and only then opened up, never the other way round.
func writeOutput(cmd *cobra.Command, path string, force bool, perm os.FileMode, r io.Reader, check func() error) (int64, error) {
	if path == "-" {
		n, err := io.Copy(cmd.OutOrStdout(), r)
		if err == nil {
			err = check()
		}
		return n, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = check()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), perm)
	}
	if err == nil {
		err = place(tmp.Name(), path, force)
	}
	if err != nil {
		os.Remove(tmp.Name())
		if exitCode(err) == exitRefused {
			return n, err
		}
		return n, fmt.Errorf("writing %s: %w", path, err)
	}
	return n, nil
}

// place gives the finished temporary file its name.
func place(tmp, path string, force bool) error {
	if force {
		return os.Rename(tmp, path)
	}
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		return os.Remove(tmp)
	case errors.Is(err, fs.ErrExist):
		return existsError(path)
	}
	// A file system without hard links: check, then rename.
	if _, serr := os.Lstat(path); serr == nil {
		return existsError(path)
	}
	return os.Rename(tmp, path)
}
