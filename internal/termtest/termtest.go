// Package termtest runs output on a pseudo-terminal and reads back the screen it leaves, for
// tests of the live view (package starter) and of commands that draw it.
package termtest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/creack/pty"
)

// Terminal is a pseudo-terminal: programs write to TTY, the test reads what they wrote.
type Terminal struct {
	PTY, TTY *os.File
	raw      chan []byte
}

// end marks the end of the output (Done writes it to the terminal).
const end = "\x00termtest end\x00"

// Open opens a pseudo-terminal of cols × rows and starts reading it.
func Open(cols, rows int) (*Terminal, error) {
	p, t, err := pty.Open()
	if err != nil {
		return nil, err
	}
	if err := pty.Setsize(t, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)}); err != nil {
		p.Close()
		t.Close()
		return nil, err
	}
	term := &Terminal{PTY: p, TTY: t, raw: make(chan []byte, 1)}
	go func() { term.raw <- readUntil(p, end) }()
	return term, nil
}

// Done marks the end of the output and returns all of it; the writers must have finished.
func (t *Terminal) Done() ([]byte, error) {
	if _, err := io.WriteString(t.TTY, end); err != nil {
		return nil, err
	}
	return <-t.raw, nil
}

// Close closes both ends.
func (t *Terminal) Close() {
	t.TTY.Close()
	t.PTY.Close()
}

func readUntil(r io.Reader, end string) []byte {
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if i := bytes.Index(b.Bytes(), []byte(end)); i >= 0 {
			return b.Bytes()[:i]
		}
		if err != nil {
			return b.Bytes()
		}
	}
}

// Replay draws out on an empty screen the way a terminal does, for what the live view writes:
// text, CR, LF and mpb's one escape sequence, ESC[nA ESC[J (cursor n lines up, erase to the end of
// the screen). Anything else is an error: the model would be wrong. Lines come without trailing
// blanks.
func Replay(out []byte) ([]string, error) {
	var lines [][]rune
	row, col := 0, 0
	for i := 0; i < len(out); {
		switch c := out[i]; c {
		case '\r':
			col = 0
			i++
		case '\n':
			row++
			i++
		case 0x1b:
			j := i + 2
			for j < len(out) && out[j] >= '0' && out[j] <= '9' {
				j++
			}
			if i+1 >= len(out) || out[i+1] != '[' || j >= len(out) {
				return nil, fmt.Errorf("unexpected escape sequence at %d: %q", i, out[i:min(i+8, len(out))])
			}
			n, _ := strconv.Atoi(string(out[i+2 : j]))
			switch out[j] {
			case 'A':
				row = max(row-max(n, 1), 0)
			case 'J':
				if row < len(lines) {
					lines[row] = lines[row][:min(col, len(lines[row]))]
					lines = lines[:row+1]
				}
			default:
				return nil, fmt.Errorf("unexpected escape sequence %q", out[i:j+1])
			}
			i = j + 1
		default:
			r, size := utf8.DecodeRune(out[i:])
			i += size
			for len(lines) <= row {
				lines = append(lines, nil)
			}
			for len(lines[row]) < col {
				lines[row] = append(lines[row], ' ')
			}
			if col < len(lines[row]) {
				lines[row][col] = r
			} else {
				lines[row] = append(lines[row], r)
			}
			col++
		}
	}
	screen := make([]string, len(lines))
	for i, l := range lines {
		screen[i] = strings.TrimRight(string(l), " ")
	}
	return screen, nil
}

// Line returns the first line of screen that contains s, or "".
func Line(screen []string, s string) string {
	for _, l := range screen {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// Bar returns the cells between the brackets of the first [...] in line, and whether there is
// one.
func Bar(line string) (string, bool) {
	i := strings.Index(line, "[")
	j := strings.Index(line, "]")
	if i < 0 || j < i {
		return "", false
	}
	return line[i+1 : j], true
}
