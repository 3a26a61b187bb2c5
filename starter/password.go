package starter

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// PasswordEnv holds the root@sys password. There is deliberately no flag: a flag would leave the
// password in the shell history and in every process listing.
const PasswordEnv = "OBFLOW_ROOT_PASSWORD"

// ErrNoPassword is returned when the password is neither in the environment nor can be asked for.
var ErrNoPassword = fmt.Errorf("no root password: set %s or run from a terminal to be asked for it", PasswordEnv)

// PasswordSource says where ReadPassword looks.
type PasswordSource struct {
	LookupEnv func(string) (string, bool) // default os.LookupEnv
	In        *os.File                    // the terminal to prompt on (default os.Stdin)
	Out       io.Writer                   // where the prompt goes (default os.Stderr)
}

// ReadPassword returns $OBFLOW_ROOT_PASSWORD when it is set (even to ""), else prompts on the
// terminal without echo; with confirm the password is asked twice. Without a terminal it fails
// with ErrNoPassword rather than blocking on a pipe.
func (s PasswordSource) ReadPassword(prompt string, confirm bool) (string, error) {
	if s.LookupEnv == nil {
		s.LookupEnv = os.LookupEnv
	}
	if s.In == nil {
		s.In = os.Stdin
	}
	if s.Out == nil {
		s.Out = os.Stderr
	}
	if p, ok := s.LookupEnv(PasswordEnv); ok {
		return p, nil
	}
	fd := int(s.In.Fd())
	if !term.IsTerminal(fd) {
		return "", ErrNoPassword
	}
	read := func(prompt string) (string, error) {
		fmt.Fprint(s.Out, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(s.Out)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	p, err := read(prompt)
	if err != nil || !confirm {
		return p, err
	}
	again, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if again != p {
		return "", errors.New("the two passwords differ")
	}
	return p, nil
}
