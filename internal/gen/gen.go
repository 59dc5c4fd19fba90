// Package gen makes synthetic dataset rows for benchmarks and tests: the
// same rows everywhere, so that figures from the bench suite and from the
// validate package's benchmarks compare.
package gen

import (
	"strconv"
	"strings"
)

var filler = strings.Repeat("lorem ipsum dolor sit amet ", 12)

// ChatRow appends a unique three-turn chat-finetune conversation of about
// 900 bytes, valid for Cohere's chat-finetune-input rules, with its newline.
func ChatRow(b []byte, i int) []byte {
	b = append(b, `{"messages":[{"role":"System","content":"You are assistant number `...)
	b = strconv.AppendInt(b, int64(i%7), 10)
	b = append(b, `."},{"role":"User","content":"Question `...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ": "+filler+`"},{"role":"Chatbot","content":"Answer: `+filler+filler+`"}]}`+"\n"...)
	return b
}

// EmbedCSVRow appends an embed-input CSV row (columns text,title) of about
// 350 bytes whose text is quoted and holds commas and quotes.
func EmbedCSVRow(b []byte, i int) []byte {
	b = append(b, `"Row `...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `, with a comma and ""quotes"": `+filler+`",title `...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, '\n')
}
