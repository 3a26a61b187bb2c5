package activities

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

//go:embed ocs_schema.sql
var ocsSchemaSQL string

// ocsTable is one table of database ocs and the statement that creates it.
type ocsTable struct{ name, ddl string }

// ocsTables are obshell's metadata tables, parsed from ocs_schema.sql.
var ocsTables = mustParseOCSSchema(ocsSchemaSQL)

var createTableName = regexp.MustCompile("^CREATE TABLE IF NOT EXISTS `ocs`\\.`(\\w+)` \\(")

// mustParseOCSSchema splits the schema file into its statements (each ends
// with ";" at the end of a line); "--" lines are comments.
func mustParseOCSSchema(src string) []ocsTable {
	var lines []string
	for _, l := range strings.Split(src, "\n") {
		if !strings.HasPrefix(l, "--") {
			lines = append(lines, l)
		}
	}
	var out []ocsTable
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";\n") {
		stmt = strings.TrimSpace(stmt)
		if stmt == "" {
			continue
		}
		m := createTableName.FindStringSubmatch(stmt)
		if m == nil {
			panic(fmt.Sprintf("ocs_schema.sql: not a CREATE TABLE IF NOT EXISTS `ocs`.`name`: %.60q", stmt))
		}
		out = append(out, ocsTable{name: m[1], ddl: stmt})
	}
	return out
}
