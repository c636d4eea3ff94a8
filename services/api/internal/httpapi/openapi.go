package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/services/api/internal/openapi"
)

// openAPIDocument serves the OpenAPI document; public, like the catalogue.
func (s *Server) openAPIDocument(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openapi.Document())
}
