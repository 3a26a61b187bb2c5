package obsim

import (
	"crypto/x509"
	"encoding/hex"
	"net"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
)

// internalUser is the account members use to run ordinary SQL on the leader.
// Its password is the cluster's InternalSecret; it is not a sys tenant user
// and cannot be seen or changed with SQL.
const internalUser = "__obsim_internal"

// loginName splits OceanBase's login forms "user", "user@tenant" and
// "user@tenant#cluster".
func loginName(login string) (user, tenant, cluster string) {
	user = login
	if u, rest, ok := strings.Cut(login, "@"); ok {
		user = u
		tenant = rest
		if t, c, ok := strings.Cut(rest, "#"); ok {
			tenant, cluster = t, c
		}
	}
	return user, tenant, cluster
}

// authServer checks mysql_native_password logins against the cluster state.
type authServer struct {
	s      *Server
	method mysql.AuthMethod
}

var _ mysql.AuthServer = (*authServer)(nil)

func newAuthServer(s *Server) *authServer {
	a := &authServer{s: s}
	a.method = &handshakeDoneMethod{AuthMethod: mysql.NewMysqlNativeAuthMethod(a, a)}
	return a
}

func (a *authServer) AuthMethods() []mysql.AuthMethod { return []mysql.AuthMethod{a.method} }

func (a *authServer) DefaultAuthMethodDescription() mysql.AuthMethodDescription {
	return mysql.MysqlNativePassword
}

// HandleUser implements mysql.UserValidator: every name may try; unknown
// users are rejected with 1045 after the password exchange, like MySQL does.
func (a *authServer) HandleUser(string, net.Addr) bool { return true }

// UserEntryWithHash implements mysql.HashStorage.
func (a *authServer) UserEntryWithHash(_ []*x509.Certificate, salt []byte, login string, authResponse []byte, remoteAddr net.Addr) (mysql.Getter, error) {
	host := hostOf(remoteAddr)
	user, tenant, cluster := loginName(login)
	st := a.s.stateSnapshot()
	denied := errAccessDenied(login, host, len(authResponse) > 0)

	var hash string
	switch {
	case user == internalUser:
		if st.InternalSecret == "" {
			return nil, denied
		}
		hash = nativeHash(st.InternalSecret)
	default:
		if tenant != "" && !strings.EqualFold(tenant, "sys") {
			return nil, denied
		}
		if cluster != "" && cluster != a.s.opts.ClusterName {
			return nil, denied
		}
		u, ok := st.Users[user]
		if !ok {
			return nil, denied
		}
		hash = u.PasswordHash
	}
	if hash == "" {
		if len(authResponse) != 0 {
			return nil, denied
		}
	} else {
		stored, err := hex.DecodeString(hash)
		if err != nil || len(authResponse) != 20 || !mysql.VerifyHashedMysqlNativePassword(authResponse, salt, stored) {
			return nil, denied
		}
	}
	return sql.MysqlConnectionUser{User: user, Host: host}, nil
}

func hostOf(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return h
}

// handshakeDoneMethod lifts the handshake deadline once a login succeeded:
// the listener gives every new connection a deadline so that clients that
// connect and never finish the handshake cannot pile up, but an
// authenticated idle connection must stay open like on a real server.
type handshakeDoneMethod struct{ mysql.AuthMethod }

func (m *handshakeDoneMethod) HandleAuthPluginData(c *mysql.Conn, user string, serverData, clientData []byte, remote net.Addr) (mysql.Getter, error) {
	g, err := m.AuthMethod.HandleAuthPluginData(c, user, serverData, clientData, remote)
	if err == nil && c.Conn != nil {
		_ = c.Conn.SetDeadline(time.Time{})
	}
	return g, err
}
