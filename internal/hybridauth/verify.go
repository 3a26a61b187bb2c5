package hybridauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strconv"
	"time"

	"github.com/obflow/obflow/internal/obshell"
)

// DefaultMaxFuture caps how far in the future a header's Ts (its expiry) may lie. obshell has no
// cap, so a captured header with a far-future Ts is valid for ever. The SDKs use now+60 s
// (sdk-go PasswordAuth.GetLifetime, sdk-py lifetime), agents now+10 s; one hour leaves room for a
// caller-chosen longer lifetime and clock skew. The Go SDK's v1 bug (nanoseconds added to
// seconds) is not affected: obflow, like obshell, does not serve v1.
const DefaultMaxFuture = time.Hour

// DefaultReplayEntries bounds the replay cache: 1<<17 entries of ~100 bytes is ~13 MB, i.e. more
// than 2,000 authenticated requests per second sustained over the SDKs' 60 s lifetime.
const DefaultReplayEntries = 1 << 17

// Verifier applies obshell's Verify checks plus obflow's hardening. The zero value is not usable;
// use NewVerifier.
type Verifier struct {
	// MaxFuture caps Ts - now (see DefaultMaxFuture); 0 disables the cap.
	MaxFuture time.Duration
	// Replay, if not nil, rejects a header already accepted within its validity.
	Replay *ReplayCache
	// Now is the clock (tests replace it).
	Now func() time.Time
}

// NewVerifier returns a verifier with DefaultMaxFuture and a DefaultReplayEntries replay cache.
func NewVerifier() *Verifier {
	return &Verifier{MaxFuture: DefaultMaxFuture, Replay: NewReplayCache(DefaultReplayEntries), Now: time.Now}
}

// CheckURI compares the header's Uri with the request URI as received (path and query string,
// http.Request.RequestURI). Mismatch → 401 Security.Authentication.Header.UriMismatch 10008,
// "URI mismatch" (not wrapped, as in obshell).
func CheckURI(h *Header, requestURI string) error {
	if h.Uri != requestURI {
		return obshell.NewURIMismatch()
	}
	return nil
}

// CheckTimestamp checks ts as an expiry: it must parse as int64 (else Timestamp.Invalid
// "Invalid timestamp: <ts>, err: <err>"), must not be before now's second (else Expired), and —
// obflow's addition — must not be more than maxFuture after now (Timestamp.Invalid). All are 401
// with code 10008.
func CheckTimestamp(ts string, now time.Time, maxFuture time.Duration) error {
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return obshell.NewTimestampInvalid(ts, err)
	}
	cur := now.Unix()
	if cur > t {
		return obshell.NewAuthExpired()
	}
	if maxFuture > 0 && t-cur > int64(maxFuture/time.Second) {
		return obshell.NewTimestampInvalid(ts, fmt.Errorf("more than %s in the future", maxFuture))
	}
	return nil
}

// PasswordEqual compares two passwords in time independent of where they differ. Both are hashed
// first so that the length of the expected password does not leak either.
func PasswordEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// CheckPassword is obshell's VerifyAuth for the OceanBase password: when the header carries a
// non-empty password its Ts must be valid (CheckTimestamp; an empty password skips the check, as
// in obshell), then the password must equal want (constant time). Failures are returned as
// obshell's Verify sends them: WrapRetain(Common.Unauthorized, cause), e.g. 401
// Security.Authentication.IncorrectOceanbasePassword 10008 "Unauthorized: OceanBase password is
// incorrect".
func (v *Verifier) CheckPassword(h *Header, want string) error {
	return v.checkAuth(h.Auth, h.Ts, want, obshell.NewIncorrectOceanBasePassword)
}

// CheckAgentPassword is VerifyAuth for the agent password (X-OCS-Agent-Header): the same rules
// as CheckPassword, failing with 401 Security.Authentication.IncorrectAgentPassword 10008
// "Unauthorized: Agent password is incorrect".
func (v *Verifier) CheckAgentPassword(h *Header, want string) error {
	return v.CheckAgentAuth(h.Auth, h.Ts, want)
}

// CheckAgentAuth is CheckAgentPassword for an Auth value the caller transformed first (a SINGLE
// agent also accepts its agent password RSA-encrypted with its own key, CONTRACT.md §5.5).
func (v *Verifier) CheckAgentAuth(auth, ts, want string) error {
	return v.checkAuth(auth, ts, want, obshell.NewIncorrectAgentPassword)
}

func (v *Verifier) checkAuth(auth, ts, want string, incorrect func() *obshell.Error) error {
	if auth != "" {
		if err := CheckTimestamp(ts, v.now(), v.MaxFuture); err != nil {
			return obshell.WrapRetain(obshell.CodeCommonUnauthorized, err)
		}
	}
	if !PasswordEqual(auth, want) {
		return obshell.WrapRetain(obshell.CodeCommonUnauthorized, incorrect())
	}
	return nil
}

// CheckReplay records the header and rejects it if it was accepted before and has not expired:
// 401 Security.Authentication.Unauthorized 10008 "Unauthorized: Authentication failed: header
// replayed". A header is remembered until its Ts (capped at now+MaxFuture; headers without a
// usable Ts, which obshell accepts with an empty password, are remembered for MaxFuture, or one
// hour when the cap is off). Call it only for requests that passed every other check, so that
// rejected attempts do not fill the cache. With a nil Replay it does nothing.
func (v *Verifier) CheckReplay(h *Header) error {
	if v.Replay == nil {
		return nil
	}
	now := v.now()
	horizon := v.MaxFuture
	if horizon <= 0 {
		horizon = DefaultMaxFuture
	}
	until := now.Add(horizon)
	if t, err := strconv.ParseInt(h.Ts, 10, 64); err == nil && t < until.Unix() {
		until = time.Unix(t+1, 0) // valid through the whole second t
	}
	if v.Replay.Seen(h.Digest, until, now) {
		return obshell.WrapRetain(obshell.CodeCommonUnauthorized,
			obshell.NewWithMessage("header replayed", obshell.CodeSecurityAuthUnauthorized))
	}
	return nil
}

// Verify runs the checks for a route that needs the OceanBase password, in obshell's order:
// URI, then timestamp and password, then (obflow) replay.
func (v *Verifier) Verify(h *Header, requestURI, password string) error {
	if err := CheckURI(h, requestURI); err != nil {
		return err
	}
	if err := v.CheckPassword(h, password); err != nil {
		return err
	}
	return v.CheckReplay(h)
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}
