package validate

import (
	"slices"

	"github.com/silo-datasets/silo"
)

// typeSpec is what one dataset type asks of its rows: the fields it always
// keeps (its part of the Avro schema), which of those every row must have,
// and the rules for the rest. The formats it comes in are
// silo.DatasetType.Formats, which the create checks too.
type typeSpec struct {
	fields   []field
	required []string
	finetune bool
	// generic marks a type with no documented format: rows are any JSON
	// objects, kept whole in the field "json".
	generic bool
	// filterInvalid drops an invalid example (a missing or empty field, a
	// row that does not parse) with a warning instead of failing the
	// dataset, as Cohere's classification guide says it does.
	filterInvalid bool
	rules         func(o *Options) rules
}

var (
	textField  = field{name: "text", kind: kString}
	genericFld = []field{{name: "json", kind: kString}}
)

// specFor returns the rules of a type in silo.DatasetTypes, or nil. The
// documented types follow cohere-datasets-api.md section 3; README.md lists
// the rules left out and why.
//
// Types whose input format no source documents (embed and cluster job
// outputs, the batch chat inputs) are accepted as generic JSONL objects, with
// a warning saying so, rather than refused, so that a client that round-trips
// Cohere's own outputs keeps working. Each row is kept whole, as compact JSON
// in the Avro field "json", next to any keep_fields and optional_fields.
func specFor(t silo.DatasetType) *typeSpec {
	switch t {
	case silo.TypeEmbedInput:
		return &typeSpec{fields: []field{textField}, required: []string{"text"},
			rules: func(o *Options) rules { return &embedRules{tok: o.Tokenizer} }}
	case silo.TypeSingleLabelFinetune:
		return &typeSpec{fields: []field{textField, {name: "label", kind: kString}},
			required: []string{"text", "label"}, finetune: true, filterInvalid: true,
			rules: func(o *Options) rules { return newClassifyRules(o, false) }}
	case silo.TypeMultiLabelFinetune:
		return &typeSpec{fields: []field{textField, {name: "label", kind: kStrings}},
			required: []string{"text", "label"}, finetune: true, filterInvalid: true,
			rules: func(o *Options) rules { return newClassifyRules(o, true) }}
	case silo.TypeRerankerFinetune:
		return &typeSpec{fields: []field{{name: "query", kind: kString}, {name: "relevant_passages", kind: kStrings},
			{name: "hard_negatives", kind: kStrings}},
			required: []string{"query", "relevant_passages"}, finetune: true,
			rules: func(o *Options) rules { return newRerankRules(o) }}
	case silo.TypeChatFinetune:
		return &typeSpec{fields: []field{{name: "messages", kind: kMessages}},
			required: []string{"messages"}, finetune: true,
			rules: func(o *Options) rules { return newChatRules(o) }}
	case silo.TypeBatchEmbedV2Input:
		return &typeSpec{fields: []field{{name: "custom_id", kind: kString}, {name: "body", kind: kString}},
			required: []string{"custom_id", "body"},
			rules:    func(*Options) rules { return newBatchEmbedRules() }}
	case silo.TypeEmbedResult, silo.TypeClusterResult, silo.TypeClusterOutliers,
		silo.TypeBatchChatInput, silo.TypeBatchOpenAIChatInput, silo.TypeBatchChatV2Input:
		return &typeSpec{fields: genericFld, generic: true,
			rules: func(*Options) rules { return &genericRules{} }}
	}
	return nil
}

// layout is the dataset's kept fields: the type's own, then keep_fields
// (required, as strings), then optional_fields (nullable strings).
type layout struct {
	fields   []field
	nType    int      // fields[:nType] come from the type's rules
	required []string // type's required fields + keep_fields
	keep     []string
	optional []string
}

// newLayout applies keep_fields and optional_fields to the type's fields. A
// name the type already keeps is not added twice; a name Avro cannot carry
// is reported so that validation fails with a clear message.
func newLayout(spec *typeSpec, p silo.CreateParams) (*layout, string) {
	l := &layout{fields: slices.Clone(spec.fields), nType: len(spec.fields)}
	l.required = slices.Clone(spec.required)
	have := map[string]bool{}
	for _, f := range spec.fields {
		have[f.name] = true
	}
	add := func(names []string, k kind, dst *[]string) string {
		for _, n := range names {
			if have[n] {
				continue
			}
			if !validAvroName(n) {
				return "field name " + quote(n) + " cannot be kept: Avro field names must match [A-Za-z_][A-Za-z0-9_]*"
			}
			have[n] = true
			l.fields = append(l.fields, field{name: n, kind: k})
			*dst = append(*dst, n)
		}
		return ""
	}
	if msg := add(p.KeepFields, kString, &l.keep); msg != "" {
		return nil, msg
	}
	if msg := add(p.OptionalFields, kOptString, &l.optional); msg != "" {
		return nil, msg
	}
	for _, n := range p.KeepFields {
		if !slices.Contains(l.required, n) {
			l.required = append(l.required, n)
		}
	}
	return l, ""
}

// preserve is Cohere's preserve_fields: keep_fields then optional_fields.
func preserve(p silo.CreateParams) []string {
	var out []string
	for _, n := range append(slices.Clone(p.KeepFields), p.OptionalFields...) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
