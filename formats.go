package silo

import (
	"bytes"
	"path"
	"slices"
	"strings"
)

// Formats returns the file formats a dataset type accepts (Cohere's
// per-type formats; types with no documented format take JSONL objects).
// Validation and the create's early refusal both ask here.
func (t DatasetType) Formats() []Format {
	switch t {
	case TypeEmbedInput:
		return []Format{FormatJSONL, FormatCSV, FormatTXT}
	case TypeSingleLabelFinetune:
		return []Format{FormatJSONL, FormatCSV}
	}
	return []Format{FormatJSONL}
}

// FormatNames renders formats for a message: "jsonl", "jsonl or csv",
// "jsonl, csv or txt" (never a Go slice).
func FormatNames(fs []Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// extensionFormats are the file name extensions silo reads, and the format
// each names. A file with another extension cannot be read.
var extensionFormats = map[string]Format{
	".jsonl": FormatJSONL,
	".json":  FormatJSONL,
	".csv":   FormatCSV,
	".txt":   FormatTXT,
}

// FormatOfName returns the format a file name's extension names; ok is
// false when the name has no extension (the content decides then).
func FormatOfName(filename string) (f Format, ext string, ok bool) {
	ext = strings.ToLower(path.Ext(path.Base(strings.ReplaceAll(filename, "\\", "/"))))
	if ext == "" || ext == "." {
		return "", "", false
	}
	return extensionFormats[ext], ext, true
}

// CheckFileName refuses, before any byte of a file is read, a file silo
// cannot use: an extension it cannot read (.gz, .parquet, .zip...) or a
// format the dataset type does not accept (CSV for chat-finetune-input).
// Either would be stored, counted and then fail validation.
func CheckFileName(t DatasetType, kind PartKind, filename string) error {
	f, ext, ok := FormatOfName(filename)
	if !ok {
		return nil
	}
	if f == "" {
		return Errorf(EINVALID, "The %s file %q cannot be read: silo reads .jsonl, .json, .csv and .txt files, not %s. The dataset type %s accepts %s files; upload it uncompressed in one of those formats.",
			partNames[kind], path.Base(filename), ext, t, FormatNames(t.Formats()))
	}
	return checkFormat(t, kind, filename, f)
}

func checkFormat(t DatasetType, kind PartKind, filename string, f Format) error {
	if slices.Contains(t.Formats(), f) {
		return nil
	}
	what := "The " + partNames[kind] + " file"
	if filename != "" {
		what += " " + quoteName(filename)
	}
	return Errorf(EINVALID, "%s is %s, but the dataset type %s accepts only %s files.",
		what, f, t, FormatNames(t.Formats()))
}

func quoteName(filename string) string {
	return `"` + path.Base(strings.ReplaceAll(filename, "\\", "/")) + `"`
}

// binaryMagic are the first bytes of compressed, archive and columnar
// files: no text file starts with them (each holds a byte no UTF-8 text
// opens with), so a file that does is refused whatever its name says.
var binaryMagic = []struct {
	magic string
	what  string
}{
	{"\x1f\x8b", "gzip-compressed"},
	{"PK\x03\x04", "a zip archive"},
	{"\xfd7zXZ\x00", "xz-compressed"},
	{"\x28\xb5\x2f\xfd", "zstd-compressed"},
	{"7z\xbc\xaf\x27\x1c", "a 7-zip archive"},
	{"Obj\x01", "an Avro file"},
	{"PAR1\x15", "a Parquet file"},
}

// CheckFileHead refuses a file by its first bytes: a compressed or binary
// file, whatever its name says, or, when its name gave no format and the
// content decided (format sniffed), content of a format the type does not
// accept. An empty file is left to validation.
func CheckFileHead(t DatasetType, kind PartKind, filename string, format Format, sniffed bool, head []byte) error {
	for _, m := range binaryMagic {
		if bytes.HasPrefix(head, []byte(m.magic)) {
			return Errorf(EINVALID, "The %s file%s is %s: silo reads plain .jsonl, .json, .csv and .txt files. The dataset type %s accepts %s files; upload it uncompressed in one of those formats.",
				partNames[kind], nameSuffix(filename), m.what, t, FormatNames(t.Formats()))
		}
	}
	if !sniffed || len(bytes.TrimSpace(head)) == 0 || slices.Contains(t.Formats(), format) {
		return nil
	}
	return Errorf(EINVALID, "The %s file%s has no name saying its format and does not start like JSONL (a JSON object on each line), but the dataset type %s accepts only %s files.",
		partNames[kind], nameSuffix(filename), t, FormatNames(t.Formats()))
}

func nameSuffix(filename string) string {
	if filename == "" {
		return ""
	}
	return " " + quoteName(filename)
}
