package obsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/dolthub/vitess/go/mysql"
)

// The rpc port (-P) carries a small JSON-over-HTTP protocol through which the
// simulated servers of one cluster find and update each other. It stands in
// for OceanBase's internal RPC; nothing outside obsim should depend on it.
const (
	rpcHello = "/obsim/v1/hello" // GET: who are you, are you ready
	rpcState = "/obsim/v1/state" // GET: current state; POST: adopt a newer state
	rpcApply = "/obsim/v1/apply" // POST: leader applies a mutation
)

// hello is a server's answer to "who are you".
type hello struct {
	IP           string            `json:"ip"`
	RPCPort      int               `json:"rpc_port"`
	SQLPort      int               `json:"sql_port"`
	Zone         string            `json:"zone"`
	ClusterName  string            `json:"cluster_name"`
	ClusterID    string            `json:"cluster_id"`
	Ready        bool              `json:"ready"`
	StartTime    int64             `json:"start_time"`
	Bootstrapped bool              `json:"bootstrapped"`
	Revision     int64             `json:"revision"`
	Version      string            `json:"version"`
	Params       map[string]string `json:"params,omitempty"`
}

// mutation is a change of the cluster state that only the leader applies.
type mutation struct {
	Op          string `json:"op"` // add_server | alter_user | create_user | grant
	Server      string `json:"server,omitempty"`
	Zone        string `json:"zone,omitempty"`
	User        string `json:"user,omitempty"`
	Hash        string `json:"hash,omitempty"`
	IfNotExists bool   `json:"if_not_exists,omitempty"`
	Grant       string `json:"grant,omitempty"`
}

// applyResult carries either the new state or the SQL error to return.
type applyResult struct {
	State *ClusterState `json:"state,omitempty"`
	Error *SQLErrorSpec `json:"error,omitempty"`
}

// rpcClient talks to other simulated servers. Timeouts are short: a member
// that does not answer in a second is treated as unreachable, like a server
// whose rpc port is closed.
type rpcClient struct{ http *http.Client }

func newRPCClient() *rpcClient {
	return &rpcClient{http: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		},
	}}
}

func (c *rpcClient) hello(ctx context.Context, addr string) (hello, error) {
	var h hello
	err := c.do(ctx, http.MethodGet, addr, rpcHello, nil, &h)
	return h, err
}

func (c *rpcClient) getState(ctx context.Context, addr string) (*ClusterState, error) {
	var st ClusterState
	if err := c.do(ctx, http.MethodGet, addr, rpcState, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *rpcClient) pushState(ctx context.Context, addr string, st *ClusterState) error {
	return c.do(ctx, http.MethodPost, addr, rpcState, st, nil)
}

func (c *rpcClient) apply(ctx context.Context, addr string, m mutation) (applyResult, error) {
	var r applyResult
	err := c.do(ctx, http.MethodPost, addr, rpcApply, m, &r)
	return r, err
}

func (c *rpcClient) do(ctx context.Context, method, addr, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("rpc %s %s: %w", method, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("rpc %s %s%s: %s: %s", method, addr, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("rpc %s %s%s: decode: %w", method, addr, path, err)
	}
	return nil
}

// rpcHandler serves the rpc port of one server.
func (s *Server) rpcHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+rpcHello, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.hello())
	})
	mux.HandleFunc("GET "+rpcState, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.stateSnapshot())
	})
	mux.HandleFunc("POST "+rpcState, func(w http.ResponseWriter, r *http.Request) {
		var st ClusterState
		if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&st); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.adoptState(&st); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, map[string]int64{"revision": st.Revision})
	})
	mux.HandleFunc("POST "+rpcApply, func(w http.ResponseWriter, r *http.Request) {
		var m mutation
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st, err := s.applyAsLeader(r.Context(), m)
		if err != nil {
			var se *mysql.SQLError
			if errors.As(err, &se) {
				writeJSON(w, applyResult{Error: &SQLErrorSpec{Code: se.Num, SQLState: se.State, Message: se.Message}})
				return
			}
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, applyResult{State: st})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func joinHostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
