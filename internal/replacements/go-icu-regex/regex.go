// Package regex is obflow's stand-in for github.com/dolthub/go-icu-regex: the
// same API, implemented with Go's regexp instead of a WebAssembly build of
// ICU compiled at package init. See README.md for why and for the
// differences.
package regex

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/src-d/go-errors.v1"
)

// Regex is a compiled pattern and the text it is matched against, set in
// that order. Positions and occurrences count from 1, as in MySQL's REGEXP_*
// functions. A Regex is for one goroutine at a time.
type Regex interface {
	// SetRegexString compiles the pattern with flags.
	SetRegexString(ctx context.Context, regexStr string, flags RegexFlags) error
	// SetMatchString sets the text the other methods work on.
	SetMatchString(ctx context.Context, matchStr string) error
	// IndexOf returns the 1-based position of the start (or, with endIndex,
	// one past the end) of the occurrence-th match at or after start, or 0.
	IndexOf(ctx context.Context, start int, occurrence int, endIndex bool) (int, error)
	// Matches reports whether there is an occurrence-th match at or after
	// the 0-based position start.
	Matches(ctx context.Context, start int, occurrence int) (bool, error)
	// Replace replaces the occurrence-th match at or after position (every
	// match when occurrence is 0) and keeps the rest of the text.
	Replace(ctx context.Context, replacementStr string, position int, occurrence int) (string, error)
	// Substring returns the occurrence-th match at or after start.
	Substring(ctx context.Context, start int, occurrence int) (string, bool, error)
	// StringBufferSize returns the size given to CreateRegex.
	StringBufferSize() uint32
	// Close releases the Regex; it holds nothing that needs releasing, but
	// callers of the ICU version must call it, so they do.
	Close() error
}

var (
	// ErrRegexNotYetSet is returned when a method runs before SetRegexString.
	ErrRegexNotYetSet = errors.NewKind("SetRegexString must be called before any other function")
	// ErrMatchNotYetSet is returned when a method runs before SetMatchString.
	ErrMatchNotYetSet = errors.NewKind("SetMatchString must be called as there is nothing to match against")
	// ErrInvalidRegex is returned for a pattern (or flag) RE2 cannot compile.
	ErrInvalidRegex = errors.NewKind("the given regular expression is invalid")
)

// RegexFlags are ICU's pattern flags, with ICU's values; combine with |.
type RegexFlags uint32

const (
	RegexFlags_None                     RegexFlags = 0
	RegexFlags_Case_Insensitive         RegexFlags = 2
	RegexFlags_Comments                 RegexFlags = 4 // not supported by RE2
	RegexFlags_Dot_All                  RegexFlags = 32
	RegexFlags_Literal                  RegexFlags = 16
	RegexFlags_Multiline                RegexFlags = 8
	RegexFlags_Unix_Lines               RegexFlags = 1   // RE2 only knows '\n' as a line end anyway
	RegexFlags_Unicode_Word             RegexFlags = 256 // not supported by RE2
	RegexFlags_Error_On_Unknown_Escapes RegexFlags = 512 // RE2 always rejects unknown escapes
)

// SetRegexLeakHandler exists for API compatibility: the ICU version calls
// the handler when a Regex is garbage-collected without Close, because it
// holds WebAssembly memory. This one holds only Go memory, so nothing leaks
// and the handler is never called.
func SetRegexLeakHandler(func()) {}

// CreateRegex returns an empty Regex. The buffer size is kept only to be
// reported by StringBufferSize.
func CreateRegex(stringBufferInBytes uint32) Regex {
	return &goRegex{bufferSize: stringBufferInBytes}
}

type goRegex struct {
	re         *regexp.Regexp
	text       string
	textSet    bool
	bufferSize uint32
}

var _ Regex = (*goRegex)(nil)

func (r *goRegex) SetRegexString(_ context.Context, pattern string, flags RegexFlags) error {
	r.re = nil
	if flags&(RegexFlags_Comments|RegexFlags_Unicode_Word) != 0 {
		return ErrInvalidRegex.New()
	}
	if flags&RegexFlags_Literal != 0 {
		// ICU: with Literal only case-insensitivity still applies.
		pattern = regexp.QuoteMeta(pattern)
		flags &= RegexFlags_Case_Insensitive
	}
	mods := ""
	if flags&RegexFlags_Case_Insensitive != 0 {
		mods += "i"
	}
	if flags&RegexFlags_Multiline != 0 {
		mods += "m"
	}
	if flags&RegexFlags_Dot_All != 0 {
		mods += "s"
	}
	if mods != "" {
		pattern = "(?" + mods + ")" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return ErrInvalidRegex.Wrap(err)
	}
	r.re = re
	return nil
}

func (r *goRegex) SetMatchString(_ context.Context, text string) error {
	if r.re == nil {
		return ErrRegexNotYetSet.New()
	}
	r.text, r.textSet = text, true
	return nil
}

func (r *goRegex) ready() error {
	if r.re == nil {
		return ErrRegexNotYetSet.New()
	}
	if !r.textSet {
		return ErrMatchNotYetSet.New()
	}
	return nil
}

// byteOffset turns a 0-based code point position into a byte offset, or
// false when it lies beyond the text.
func (r *goRegex) byteOffset(pos int) (int, bool) {
	if pos < 0 {
		pos = 0
	}
	off := 0
	for i := 0; i < pos; i++ {
		if off >= len(r.text) {
			return 0, false
		}
		_, n := utf8.DecodeRuneInString(r.text[off:])
		off += n
	}
	return off, true
}

// find returns the byte bounds of the occurrence-th (at least the first)
// match at or after the 0-based code point position pos.
func (r *goRegex) find(pos, occurrence int) (start, end int, ok bool) {
	off, ok := r.byteOffset(pos)
	if !ok {
		return 0, 0, false
	}
	n := max(occurrence, 1)
	locs := r.re.FindAllStringIndex(r.text[off:], n)
	if len(locs) < n {
		return 0, 0, false
	}
	loc := locs[n-1]
	return off + loc[0], off + loc[1], true
}

func (r *goRegex) IndexOf(_ context.Context, start, occurrence int, endIndex bool) (int, error) {
	if err := r.ready(); err != nil {
		return 0, err
	}
	s, e, ok := r.find(start-1, occurrence)
	if !ok {
		return 0, nil
	}
	if endIndex {
		s = e
	}
	return utf8.RuneCountInString(r.text[:s]) + 1, nil
}

func (r *goRegex) Matches(_ context.Context, start, occurrence int) (bool, error) {
	if err := r.ready(); err != nil {
		return false, err
	}
	_, _, ok := r.find(start, occurrence)
	return ok, nil
}

func (r *goRegex) Substring(_ context.Context, start, occurrence int) (string, bool, error) {
	if err := r.ready(); err != nil {
		return "", false, err
	}
	s, e, ok := r.find(start-1, occurrence)
	if !ok {
		return "", false, nil
	}
	return r.text[s:e], true, nil
}

func (r *goRegex) Replace(_ context.Context, replacement string, position, occurrence int) (string, error) {
	if err := r.ready(); err != nil {
		return "", err
	}
	off, ok := r.byteOffset(position - 1)
	if !ok {
		return r.text, nil
	}
	tail := r.text[off:]
	n := -1
	if occurrence > 0 {
		n = occurrence
	}
	matches := r.re.FindAllStringSubmatchIndex(tail, n)
	if occurrence > 0 {
		if len(matches) < occurrence {
			return r.text, nil
		}
		matches = matches[occurrence-1:]
	}
	var b strings.Builder
	b.WriteString(r.text[:off])
	last := 0
	for _, m := range matches {
		b.WriteString(tail[last:m[0]])
		if err := r.expand(&b, replacement, tail, m); err != nil {
			return "", err
		}
		last = m[1]
	}
	b.WriteString(tail[last:])
	return b.String(), nil
}

// expand writes ICU's replacement syntax: $n is group n (the longest run
// of digits that names a group), \x is a literal x.
func (r *goRegex) expand(b *strings.Builder, repl, text string, m []int) error {
	groups := r.re.NumSubexp()
	for i := 0; i < len(repl); i++ {
		switch c := repl[i]; c {
		case '\\':
			if i+1 == len(repl) {
				return ErrInvalidRegex.Wrap(fmt.Errorf("replacement %q ends with a backslash", repl))
			}
			i++
			b.WriteByte(repl[i])
		case '$':
			j, g := i+1, -1
			for k := j; k < len(repl) && repl[k] >= '0' && repl[k] <= '9'; k++ {
				v, err := strconv.Atoi(repl[j : k+1])
				if err != nil || v > groups {
					break
				}
				g, i = v, k
			}
			if g < 0 {
				return ErrInvalidRegex.Wrap(fmt.Errorf("replacement %q: $ must name a group of the pattern", repl))
			}
			if s, e := m[2*g], m[2*g+1]; s >= 0 {
				b.WriteString(text[s:e])
			}
		default:
			b.WriteByte(c)
		}
	}
	return nil
}

func (r *goRegex) StringBufferSize() uint32 { return r.bufferSize }

func (r *goRegex) Close() error {
	r.re, r.text, r.textSet = nil, "", false
	return nil
}
