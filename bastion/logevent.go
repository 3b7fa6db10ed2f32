package bastion

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
)

// loggedEvent logs an event's payload as its recorded fields
// (event.channel=2 event.text="SELECT 1"), not as a Go struct
// ({Channel:2 Text:...}), so the log reads like the recording. It is
// only encoded when the record is logged at an enabled level.
type loggedEvent struct{ data any }

func (e loggedEvent) LogValue() slog.Value {
	b, err := json.Marshal(e.data)
	if err != nil {
		return slog.StringValue("(unencodable: " + err.Error() + ")")
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return slog.StringValue(string(b)) // not an object
	}
	attrs := make([]slog.Attr, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		attrs = append(attrs, slog.Any(k, fieldValue(fields[k])))
	}
	return slog.GroupValue(attrs...)
}

// fieldValue is a JSON value as a log value: strings, numbers (exact,
// as a certificate serial must be) and booleans as themselves, anything
// else as its JSON text.
func fieldValue(raw json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	switch v.(type) {
	case string, json.Number, bool, nil:
		return v
	}
	return string(raw)
}
