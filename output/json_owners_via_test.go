package output_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"socktop/collect"
	"socktop/output"
)

// TestWriteJSONOwnersVia: the document says how the owners were read when
// the snapshot says so, and leaves it out when owners were not looked up.
func TestWriteJSONOwnersVia(t *testing.T) {
	for _, via := range []string{collect.OwnersViaBPF, collect.OwnersViaProc, ""} {
		snap := &collect.Snapshot{Source: "test", Owners: collect.OwnersComplete, OwnersVia: via}
		if via == "" {
			snap.Owners = collect.OwnersNotLooked
		}
		var buf bytes.Buffer
		if err := output.WriteJSON(&buf, snap); err != nil {
			t.Fatal(err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("%v: %s", err, buf.Bytes())
		}
		raw, ok := doc["owners_via"]
		switch {
		case via == "" && ok:
			t.Errorf("no owner pass: owners_via present: %s", buf.Bytes())
		case via != "" && string(raw) != `"`+via+`"`:
			t.Errorf("owners via %q: %s", via, buf.Bytes())
		}
	}
}
