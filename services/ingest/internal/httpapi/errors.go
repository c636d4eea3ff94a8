package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/httperror"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// apiError is an error with the HTTP answer it deserves. Handlers return it
// and writeError renders every one the same Kazoo way, so each route answers
// bad input alike.
type apiError struct {
	status  int
	message string
	// data is the Kazoo validation map {field: {rule: {"message": ...}}}.
	data       fieldErrors
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.message }

// fieldErrors is Kazoo's {field: {rule: {"message": ...}}}.
type fieldErrors map[string]map[string]map[string]string

func (fe fieldErrors) add(field, rule, message string) {
	if fe[field] == nil {
		fe[field] = map[string]map[string]string{}
	}
	if _, seen := fe[field][rule]; !seen {
		fe[field][rule] = map[string]string{"message": message}
	}
}

// fieldErrorsOf renders a ValidationError, each field name prefixed (the
// batch index, for batches).
func fieldErrorsOf(v *adapter.ValidationError, prefix string, into fieldErrors) fieldErrors {
	if into == nil {
		into = fieldErrors{}
	}
	for _, f := range v.Fields {
		into.add(prefix+f.Field, f.Rule, f.Message)
	}
	return into
}

func errBadRequest(message string, data fieldErrors) *apiError {
	return &apiError{status: http.StatusBadRequest, message: message, data: data}
}

// writeError is the one place errors become HTTP answers. Anything that is
// not an apiError is a bug or an outage and is answered 500 without detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, telemetry.KeyError, err)
		ae = &apiError{status: http.StatusInternalServerError, message: "internal error"}
	}
	httperror.SetRetryAfter(w.Header(), ae.retryAfter)
	data := ae.data
	if data == nil {
		data = fieldErrors{}
	}
	httperror.Write(w, ae.status, httperror.New(ae.status, ae.message, data))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
