package api

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// requestLine is what a request's log line says.
type requestLine struct {
	at       time.Time
	level    slog.Level
	id       string
	method   string
	route    string
	status   int
	in, out  int64
	duration time.Duration
	org      string
	client   string
}

// logRequest writes the request's line: straight to s.RequestLogText when
// it is set, else through the logger. Every request logs a line, and
// slog's generic path (attributes, reflection on values, a handler lock)
// was a sixth of a usage request's CPU; the direct path writes the same
// bytes with a few appends (TestRequestLineLikeSlog, FuzzRequestLine).
func (s *Server) logRequest(ctx context.Context, l requestLine) {
	if s.RequestLogText == nil {
		s.logger().LogAttrs(ctx, l.level, "request", l.attrs()...)
		return
	}
	bp := lineBufs.Get().(*[]byte)
	b := appendRequestText((*bp)[:0], l)
	s.RequestLogText.Write(b)
	*bp = b
	lineBufs.Put(bp)
}

// attrs are the line's attributes as the logger takes them.
func (l requestLine) attrs() []slog.Attr {
	return []slog.Attr{slog.String("request_id", l.id), slog.String("method", l.method), slog.String("route", l.route),
		slog.Int("status", l.status), slog.Int64("bytes_in", l.in), slog.Int64("bytes_out", l.out),
		slog.Duration("duration", l.duration), slog.String("org", l.org), slog.String("client", l.client)}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendRequestText appends l as slog.NewTextHandler(w, nil) writes the
// record LogAttrs(ctx, l.level, "request", l.attrs()...) made at l.at.
func appendRequestText(b []byte, l requestLine) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, l.at.Round(0))
	b = append(b, " level="...)
	b = appendText(b, l.level.String())
	b = append(b, " msg=request request_id="...)
	b = appendText(b, l.id)
	b = append(b, " method="...)
	b = appendText(b, l.method)
	b = append(b, " route="...)
	b = appendText(b, l.route)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, " bytes_in="...)
	b = strconv.AppendInt(b, l.in, 10)
	b = append(b, " bytes_out="...)
	b = strconv.AppendInt(b, l.out, 10)
	b = append(b, " duration="...)
	b = append(b, l.duration.String()...)
	b = append(b, " org="...)
	b = appendText(b, l.org)
	b = append(b, " client="...)
	b = appendText(b, l.client)
	return append(b, '\n')
}

// appendText is slog's text handler's string value: quoted (Go syntax)
// when it is empty or holds a space, '=', '"', a control character, or a
// rune that is not printable or is a space; as it is otherwise.
func appendText(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuoting is log/slog's rule (text_handler.go), where safeSet is the
// ASCII that JSON strings hold unescaped: everything from ' ' up but '"'
// and '\\', and a backslash is let through as is.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b == ' ' || b == '=' || b == '"' || b < ' ' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendRFC3339Millis is slog's time format: RFC 3339 with exactly three
// digits of milliseconds (RFC3339Nano trims trailing zeros, so a tenth of
// a millisecond is added and the fourth digit dropped).
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}
