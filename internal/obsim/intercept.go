package obsim

import (
	"regexp"
	"strconv"
	"strings"
)

// StmtKind says how the simulator handles one statement.
type StmtKind int

const (
	// StmtEngine goes to the SQL engine unchanged (or to the leader).
	StmtEngine StmtKind = iota
	// StmtRewrite goes to the engine as Statement.Rewritten.
	StmtRewrite
	StmtBootstrap
	StmtAddServer
	StmtAlterUser
	StmtCreateUser
	StmtGrant
	StmtLoadModule
	// StmtUnsupported is an OceanBase statement the simulator does not do.
	StmtUnsupported
)

// ZoneServer is one "ZONE 'z' SERVER 'ip:port'" item of BOOTSTRAP.
type ZoneServer struct {
	Region string
	Zone   string
	Server string
}

// Statement is the interceptor's reading of one query.
type Statement struct {
	Kind StmtKind
	// Bootstrap
	RSList []ZoneServer
	// Add server
	Servers []string
	Zone    string
	// Users
	Users       []string
	Password    string
	HasPassword bool
	IfNotExists bool
	Grant       string
	// Load module data
	Module, Tenant, Infile string
	// Rewrite
	Rewritten string
	// Unsupported: what it was
	What string
	// ClusterViews lists cluster views the query reads (before bootstrap they
	// fail); Local says the statement must be answered by this server, not
	// forwarded to the leader (views, ob_version(), VERSION()).
	ClusterViews []string
	Local        bool
	// SysTables lists the writable system tables the query names (the time
	// zone tables): like the views they exist only after bootstrap, but
	// their rows are ordinary data, kept by the leader.
	SysTables []string
}

// token is one lexical token of a query.
type token struct {
	kind byte   // 'w' word, 's' string, 'b' backquoted, 'n' number, 'p' punctuation
	text string // for strings: the unescaped value; for words: as written
}

func (t token) is(word string) bool { return t.kind == 'w' && strings.EqualFold(t.text, word) }

// lex splits a query into tokens, dropping comments. It never fails: an
// unterminated string or comment simply runs to the end of the input, and the
// parser then reports a syntax error if the statement was one it handles.
func lex(q string) []token {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(q[i:], "-- ")):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				i = len(q)
			} else {
				i += end + 4
			}
		case c == '\'' || c == '"':
			var sb strings.Builder
			j := i + 1
			for j < len(q) {
				if q[j] == '\\' && j+1 < len(q) {
					sb.WriteByte(unescape(q[j+1]))
					j += 2
					continue
				}
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						sb.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(q[j])
				j++
			}
			toks = append(toks, token{'s', sb.String()})
			i = j + 1
		case c == '`':
			j := i + 1
			var sb strings.Builder
			for j < len(q) {
				if q[j] == '`' {
					if j+1 < len(q) && q[j+1] == '`' {
						sb.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(q[j])
				j++
			}
			toks = append(toks, token{'b', sb.String()})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			kind := byte('w')
			if c >= '0' && c <= '9' {
				kind = 'n'
			}
			toks = append(toks, token{kind, q[i:j]})
			i = j
		default:
			toks = append(toks, token{'p', q[i : i+1]})
			i++
		}
	}
	return toks
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	case 'Z':
		return 26
	}
	return c
}

// parser walks the tokens of one statement.
type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser) next() token {
	t := p.peek()
	if p.pos < len(p.toks) {
		p.pos++
	}
	return t
}

func (p *parser) accept(words ...string) bool {
	save := p.pos
	for _, w := range words {
		if !p.next().is(w) {
			p.pos = save
			return false
		}
	}
	return true
}

func (p *parser) acceptPunct(s string) bool {
	if t := p.peek(); t.kind == 'p' && t.text == s {
		p.pos++
		return true
	}
	return false
}

// atEnd allows one trailing ';'.
func (p *parser) atEnd() bool {
	p.acceptPunct(";")
	return p.pos >= len(p.toks)
}

// rest renders the unread tokens, for error messages.
func (p *parser) rest() string {
	var parts []string
	for _, t := range p.toks[p.pos:] {
		switch t.kind {
		case 's':
			parts = append(parts, "'"+t.text+"'")
		case 'b':
			parts = append(parts, "`"+t.text+"`")
		default:
			parts = append(parts, t.text)
		}
	}
	return strings.Join(parts, " ")
}

// value reads a quoted string, or a bare word/number (OceanBase accepts both
// for zone names).
func (p *parser) value() (string, bool) {
	t := p.peek()
	if t.kind == 's' || t.kind == 'w' || t.kind == 'b' || t.kind == 'n' {
		p.pos++
		return t.text, true
	}
	return "", false
}

// str reads a string literal; adjacent literals concatenate as in MySQL
// ('a' "'" 'b' is a'b), which obshell's quoting of proxyro's password relies on.
func (p *parser) str() (string, bool) {
	if p.peek().kind != 's' {
		return "", false
	}
	var sb strings.Builder
	for p.peek().kind == 's' {
		sb.WriteString(p.next().text)
	}
	return sb.String(), true
}

// user reads user[@host]; the host is ignored (everything is '%').
func (p *parser) user() (string, bool) {
	t := p.peek()
	if t.kind != 's' && t.kind != 'w' && t.kind != 'b' {
		return "", false
	}
	p.pos++
	name := t.text
	if p.acceptPunct("@") {
		if _, ok := p.value(); !ok {
			return "", false
		}
	}
	return name, name != ""
}

var createDBReadWrite = regexp.MustCompile(`(?is)^(\s*CREATE\s+(?:DATABASE|SCHEMA)\b.*?)\s+READ\s+(?:WRITE|ONLY)\s*;?\s*$`)

// longVarchar is a VARCHAR(n) column type in a CREATE or ALTER TABLE.
var longVarchar = regexp.MustCompile(`(?i)\bvarchar\s*\(\s*(\d+)\s*\)`)

const (
	// engineMaxVarchar is the longest VARCHAR the engine takes (65535
	// bytes of utf8mb4); obMaxVarchar is OceanBase's limit in MySQL mode.
	engineMaxVarchar = 16383
	obMaxVarchar     = 262144
)

// rewriteLongVarchars turns each VARCHAR(n) that OceanBase takes but the
// engine does not (engineMaxVarchar < n <= obMaxVarchar) into MEDIUMTEXT,
// which holds as much. obshell's profile_credential.secret is a
// varchar(65536). Longer ones are left for the engine to reject, as
// OceanBase would.
func rewriteLongVarchars(q string) (string, bool) {
	changed := false
	out := longVarchar.ReplaceAllStringFunc(q, func(m string) string {
		n, err := strconv.Atoi(longVarchar.FindStringSubmatch(m)[1])
		if err != nil || n <= engineMaxVarchar || n > obMaxVarchar {
			return m
		}
		changed = true
		return "mediumtext"
	})
	return out, changed
}

// Classify reads a query the way the simulator's interceptor does, before the
// engine's parser sees it. It returns a *mysql.SQLError (as error) for
// OceanBase statements it recognises but cannot parse. It never panics.
func Classify(query string) (Statement, error) {
	toks := lex(query)
	st := Statement{Kind: StmtEngine}
	for i, t := range toks {
		switch {
		case t.kind == 's':
			// SHOW VARIABLES LIKE 'version%' reports this server's version.
			if strings.HasPrefix(strings.ToLower(t.text), "version") {
				st.Local = true
			}
		case t.kind != 'w' && t.kind != 'b':
		case isClusterView(t.text):
			st.ClusterViews = append(st.ClusterViews, strings.ToUpper(t.text))
			st.Local = true
		case isTimeZoneTable(t.text):
			st.SysTables = append(st.SysTables, strings.ToLower(t.text))
		case t.kind == 'w' && (strings.EqualFold(t.text, "ob_version") || strings.EqualFold(t.text, "version")) &&
			i+1 < len(toks) && toks[i+1].kind == 'p' && toks[i+1].text == "(":
			st.Local = true
		case t.kind == 'w' && strings.HasPrefix(strings.ToLower(t.text), "version") &&
			i > 0 && toks[i-1].kind == 'p' && toks[i-1].text == "@":
			st.Local = true
		}
	}
	p := &parser{toks: toks}
	switch {
	case p.accept("ALTER", "SYSTEM"):
		return parseAlterSystem(p, query, st)
	case p.accept("ALTER", "USER"):
		return parseAlterUser(p, st)
	case p.accept("SET", "PASSWORD"):
		return parseSetPassword(p, st)
	case p.accept("CREATE", "USER"):
		return parseCreateUser(p, st)
	case p.accept("GRANT"):
		return parseGrant(p, st)
	case p.accept("DELETE", "FROM"):
		// The engine turns DELETE without WHERE into a truncate, which looks
		// the table up in the session's current database and fails with
		// "database not found" when none is selected (as in OceanBase's
		// time zone script: DELETE FROM oceanbase.<table>). A WHERE that is
		// always true keeps it a row-by-row DELETE, with the same result.
		if t := p.next(); t.kind == 'w' || t.kind == 'b' {
			if p.acceptPunct(".") {
				p.next()
			}
			if p.atEnd() {
				st.Kind = StmtRewrite
				st.Rewritten = strings.TrimRight(strings.TrimSpace(query), ";") + " WHERE 1=1"
			}
		}
		return st, nil
	case p.accept("CREATE", "DATABASE") || p.accept("CREATE", "SCHEMA"):
		if m := createDBReadWrite.FindStringSubmatch(query); m != nil {
			st.Kind = StmtRewrite
			st.Rewritten = m[1]
		}
		return st, nil
	case p.accept("CREATE", "TABLE") || p.accept("ALTER", "TABLE"):
		if q, ok := rewriteLongVarchars(query); ok {
			st.Kind = StmtRewrite
			st.Rewritten = q
		}
		return st, nil
	}
	return st, nil
}

func parseAlterSystem(p *parser, query string, st Statement) (Statement, error) {
	switch {
	case p.accept("BOOTSTRAP"):
		st.Kind = StmtBootstrap
		if p.accept("CLUSTER") {
			if !p.accept("PRIMARY") && !p.accept("STANDBY") {
				return st, errSyntax(p.rest())
			}
		}
		for {
			var item ZoneServer
			if p.accept("REGION") {
				p.acceptPunct("=")
				v, ok := p.value()
				if !ok {
					return st, errSyntax(p.rest())
				}
				item.Region = v
			}
			if !p.accept("ZONE") {
				return st, errSyntax(p.rest())
			}
			p.acceptPunct("=")
			z, ok := p.value()
			if !ok || z == "" {
				return st, errSyntax(p.rest())
			}
			if !p.accept("SERVER") {
				return st, errSyntax(p.rest())
			}
			p.acceptPunct("=")
			if t := p.peek(); t.kind != 's' {
				return st, errSyntax(p.rest())
			}
			item.Zone, item.Server = z, p.next().text
			st.RSList = append(st.RSList, item)
			if !p.acceptPunct(",") {
				break
			}
		}
		if !p.atEnd() {
			return st, errSyntax(p.rest())
		}
		return st, nil
	case p.accept("ADD", "SERVER"):
		st.Kind = StmtAddServer
		for {
			if t := p.peek(); t.kind != 's' {
				return st, errSyntax(p.rest())
			}
			st.Servers = append(st.Servers, p.next().text)
			if !p.acceptPunct(",") {
				break
			}
		}
		if p.accept("ZONE") {
			p.acceptPunct("=")
			z, ok := p.value()
			if !ok {
				return st, errSyntax(p.rest())
			}
			st.Zone = z
		}
		if !p.atEnd() {
			return st, errSyntax(p.rest())
		}
		return st, nil
	case p.accept("LOAD", "MODULE", "DATA"):
		// alter system load module data module=timezone tenant=sys [infile='...']
		st.Kind = StmtLoadModule
		seenModule := false
		for !p.atEnd() {
			t := p.next()
			if t.is("MODULE") {
				p.acceptPunct("=")
				v, ok := p.value()
				if !ok {
					return st, errSyntax(p.rest())
				}
				st.Module, seenModule = v, true
				continue
			}
			if t.is("TENANT") || t.is("INFILE") {
				p.acceptPunct("=")
				v, ok := p.value()
				if !ok {
					return st, errSyntax(p.rest())
				}
				if t.is("TENANT") {
					st.Tenant = v
				} else {
					st.Infile = v
				}
				continue
			}
			return st, errSyntax(t.text + " " + p.rest())
		}
		if !seenModule {
			return st, errSyntax(query)
		}
		return st, nil
	}
	st.Kind = StmtUnsupported
	st.What = "this ALTER SYSTEM statement is"
	return st, nil
}

func parseAlterUser(p *parser, st Statement) (Statement, error) {
	st.Kind = StmtAlterUser
	p.accept("IF", "EXISTS")
	u, ok := p.user()
	if !ok {
		return st, errSyntax(p.rest())
	}
	st.Users = []string{u}
	if !p.accept("IDENTIFIED", "BY") {
		return st, errSyntax(p.rest())
	}
	pw, ok := p.str()
	if !ok {
		return st, errSyntax(p.rest())
	}
	st.Password, st.HasPassword = pw, true
	if !p.atEnd() {
		return st, errSyntax(p.rest())
	}
	return st, nil
}

// parseSetPassword reads SET PASSWORD [FOR user] = PASSWORD('x') | 'x'.
func parseSetPassword(p *parser, st Statement) (Statement, error) {
	st.Kind = StmtAlterUser
	st.Users = []string{"root"}
	if p.accept("FOR") {
		u, ok := p.user()
		if !ok {
			return st, errSyntax(p.rest())
		}
		st.Users = []string{u}
	}
	if !p.acceptPunct("=") {
		return st, errSyntax(p.rest())
	}
	wrapped := p.accept("PASSWORD")
	if wrapped && !p.acceptPunct("(") {
		return st, errSyntax(p.rest())
	}
	pw, ok := p.str()
	if !ok {
		return st, errSyntax(p.rest())
	}
	st.Password, st.HasPassword = pw, true
	if wrapped && !p.acceptPunct(")") {
		return st, errSyntax(p.rest())
	}
	if !p.atEnd() {
		return st, errSyntax(p.rest())
	}
	return st, nil
}

func parseCreateUser(p *parser, st Statement) (Statement, error) {
	st.Kind = StmtCreateUser
	st.IfNotExists = p.accept("IF", "NOT", "EXISTS")
	for {
		u, ok := p.user()
		if !ok {
			return st, errSyntax(p.rest())
		}
		st.Users = append(st.Users, u)
		if p.accept("IDENTIFIED", "BY") {
			pw, ok := p.str()
			if !ok {
				return st, errSyntax(p.rest())
			}
			st.Password, st.HasPassword = pw, true
		}
		if !p.acceptPunct(",") {
			break
		}
	}
	if !p.atEnd() {
		return st, errSyntax(p.rest())
	}
	return st, nil
}

// parseGrant reads GRANT <privileges> ON <object> TO user[, user].
func parseGrant(p *parser, st Statement) (Statement, error) {
	st.Kind = StmtGrant
	var priv []string
	for p.pos < len(p.toks) && !p.peek().is("ON") {
		priv = append(priv, p.next().text)
	}
	if !p.accept("ON") || len(priv) == 0 {
		return st, errSyntax(p.rest())
	}
	var obj strings.Builder
	for p.pos < len(p.toks) && !p.peek().is("TO") {
		obj.WriteString(p.next().text)
	}
	if !p.accept("TO") || obj.Len() == 0 {
		return st, errSyntax(p.rest())
	}
	for {
		u, ok := p.user()
		if !ok {
			return st, errSyntax(p.rest())
		}
		st.Users = append(st.Users, u)
		if !p.acceptPunct(",") {
			break
		}
	}
	p.accept("WITH", "GRANT", "OPTION")
	if !p.atEnd() {
		return st, errSyntax(p.rest())
	}
	st.Grant = strings.ToUpper(strings.Join(priv, " ")) + " ON " + obj.String()
	return st, nil
}
