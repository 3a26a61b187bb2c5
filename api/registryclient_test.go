package api

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/obflow/obflow/internal/obcluster"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/obflow/obflow/workflows"
)

// fakeRegistry answers the registry query with its current state; a query
// can be held after it read the state, like one slow on the network.
type fakeRegistry struct {
	mu    sync.Mutex
	state workflows.RegistryState
	hold  chan struct{} // the next query reads the state, then waits for it to close
	read  chan struct{} // signalled when a held query has read the state
}

func (f *fakeRegistry) QueryWorkflow(ctx context.Context, _, _, _ string, _ ...any) (converter.EncodedValue, error) {
	f.mu.Lock()
	b, err := json.Marshal(f.state)
	hold := f.hold
	f.hold = nil
	f.mu.Unlock()
	if hold != nil {
		f.read <- struct{}{}
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return jsonValue(b), err
}

func (f *fakeRegistry) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, errors.New("not used")
}

func (f *fakeRegistry) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, errors.New("not used")
}

type jsonValue []byte

func (v jsonValue) HasValue() bool       { return len(v) > 0 }
func (v jsonValue) Get(ptr any) error    { return json.Unmarshal(v, ptr) }
func (v jsonValue) String() string       { return string(v) }
func (v jsonValue) GoString() string     { return string(v) }
func (v jsonValue) Format(string) string { return string(v) }

// TestRefreshDoesNotReuseAnEarlierQuery: a refresh called while another
// query is on its way must not take that query's answer, which may
// predate a change the caller saw complete (the master's "Join self"
// finishing before a follower's join): it sends its own.
func TestRefreshDoesNotReuseAnEarlierQuery(t *testing.T) {
	const master = "127.0.3.95:2886"
	release := make(chan struct{})
	f := &fakeRegistry{hold: release, read: make(chan struct{}, 1)}
	r := newRegistryClient(f, "registry", slog.Default())
	ctx := context.Background()

	background := make(chan *workflows.RegistryState, 1)
	go func() {
		st, _ := r.refresh(ctx)
		background <- st
	}()
	<-f.read // the background query has the old state (no agents)

	f.mu.Lock()
	f.state.Agents = []obcluster.AgentRecord{{Agent: obcluster.Agent{IP: "127.0.3.95", Port: 2886}, Identity: obcluster.IdentityMaster}}
	f.mu.Unlock()
	fresh := make(chan *workflows.RegistryState, 1)
	go func() {
		st, err := r.refresh(ctx)
		if err != nil {
			t.Error(err)
		}
		fresh <- st
	}()
	// Let the second caller wait for the first query, then release it.
	time.Sleep(100 * time.Millisecond)
	close(release)

	if st := <-background; st.Identity(master) != obcluster.IdentitySingle {
		t.Fatalf("the held query saw %s", st.Identity(master))
	}
	if st := <-fresh; st.Identity(master) != obcluster.IdentityMaster {
		t.Fatalf("a refresh called after the change answered %s, want MASTER", st.Identity(master))
	}
}
