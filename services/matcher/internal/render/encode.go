package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// Content types of request bodies.
const (
	ContentTypeJSON = "application/json"
	ContentTypeForm = "application/x-www-form-urlencoded"
)

// encode turns a payload into a request the way Kazoo's webhooks do: `get`
// sends the payload as a query string appended to the uri (keeping the
// uri's own query parameters) and no body; `post` and `put` send it as a
// form body with format form-data, or as a JSON body with format json.
// Keys are sorted so the same payload always encodes to the same bytes.
func encode(verb, format, uri string, payload map[string]any) (Request, error) {
	verb = strings.ToLower(strings.TrimSpace(verb))
	if verb == "" {
		verb = event.DefaultHTTPVerb
	}
	format = strings.ToLower(strings.TrimSpace(format))
	if format == "" {
		format = event.DefaultFormat
	}
	switch verb {
	case event.VerbGet:
		u, err := withQuery(uri, formEncode(payload))
		if err != nil {
			return Request{}, err
		}
		return Request{Method: "GET", URL: u}, nil
	case event.VerbPost, event.VerbPut:
	default:
		return Request{}, fmt.Errorf("%w: http_verb %q", ErrUnsupportedHook, verb)
	}
	method := strings.ToUpper(verb)
	switch format {
	case event.FormatJSON:
		body, err := encodeJSON(payload)
		if err != nil {
			return Request{}, err
		}
		return Request{Method: method, URL: uri, ContentType: ContentTypeJSON, Body: body}, nil
	case event.FormatFormData:
		return Request{Method: method, URL: uri, ContentType: ContentTypeForm, Body: []byte(formEncode(payload))}, nil
	default:
		return Request{}, fmt.Errorf("%w: format %q", ErrUnsupportedHook, format)
	}
}

// encodeJSON writes map keys sorted (encoding/json does) and leaves &, < and
// > unescaped, as Kazoo does: a link in the payload reads as a link.
func encodeJSON(payload map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// withQuery appends an encoded query to uri's own query, if any.
func withQuery(uri, query string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("%w: uri: %w", ErrUnsupportedHook, err)
	}
	switch {
	case query == "":
	case u.RawQuery == "":
		u.RawQuery = query
	default:
		u.RawQuery += "&" + query
	}
	return u.String(), nil
}

// formEncode writes payload as key=value pairs in sorted key order, nested
// objects as key[sub]=value and lists as key[]=value, as PHP and Rack
// receivers parse them. Empty objects and lists contribute nothing.
func formEncode(payload map[string]any) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(payload)) {
		appendForm(&b, url.QueryEscape(k), payload[k])
	}
	return b.String()
}

func appendForm(b *strings.Builder, key string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			appendForm(b, key+"["+url.QueryEscape(k)+"]", v[k])
		}
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			appendForm(b, key+"["+url.QueryEscape(k)+"]", v[k])
		}
	case []any:
		for _, item := range v {
			appendForm(b, key+"[]", item)
		}
	default:
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(scalar(v)))
	}
}

// scalar is a leaf value as text: JSON's spelling for numbers and booleans,
// empty for null.
func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}
