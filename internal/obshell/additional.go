package obshell

// MergeAdditionalData merges additional_data maps the way obshell's DTOs do
// (mergeAdditionalData/mergeValue in ob/agent/engine/task/task_dto.go):
//   - no items → nil (JSON null);
//   - one item → that item as is (nil stays null);
//   - several → a new non-nil map (so {} even when every item is empty): slices are concatenated,
//     maps merged recursively, any other value is replaced by the later one.
//
// obshell panics when two values of one key have different types; here the later value wins.
//
// Visibility rules for the translator (CONTRACT.md §6.1): GET dag with details → the DAG's
// additional_data is the merge of its nodes' merges, and every node and sub-task inside has nil;
// GET dag without details → nil; GET node → the merge of its sub-tasks' data; GET sub_task → the
// task's own data.
func MergeAdditionalData(items []map[string]any) map[string]any {
	switch len(items) {
	case 0:
		return nil
	case 1:
		return items[0]
	}
	out := make(map[string]any)
	for _, item := range items {
		for k, v := range item {
			out[k] = mergeValue(out[k], v)
		}
	}
	return out
}

func mergeValue(a, b any) any {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	switch av := a.(type) {
	case []any:
		if bv, ok := b.([]any); ok {
			return append(append([]any{}, av...), bv...)
		}
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			m := make(map[string]any, len(av)+len(bv))
			for k, v := range av {
				m[k] = v
			}
			for k, v := range bv {
				m[k] = mergeValue(m[k], v)
			}
			return m
		}
	}
	return b
}
