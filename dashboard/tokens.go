package dashboard

import (
	"errors"
	"net/http"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/operations"
	"github.com/labstack/echo/v4"
)

// The API's tokens (operations/tokens.go): admins make, list and revoke
// them here (see routes); auth.go checks them.

type tokenIn struct {
	Name    string `json:"name"`
	Account string `json:"account"`
}

func (s *Server) listTokens(c echo.Context) error {
	return c.JSON(http.StatusOK, s.ops.ListTokens())
}

func (s *Server) createToken(c echo.Context) error {
	var in tokenIn
	if err := decodeBody(c, &in, 4<<10); err != nil {
		return err
	}
	if in.Account == "" {
		in.Account = viewerOf(c).acct.Name
	}
	tok, err := s.ops.AddToken(in.Name, in.Account)
	switch {
	case errors.Is(err, devices.ErrNotFound):
		return apiError(http.StatusBadRequest, "account: %v", err)
	case errors.Is(err, operations.ErrTokenExists):
		return apiError(http.StatusConflict, "%v", err)
	case errors.Is(err, store.ErrUnwritable):
		return err // 507
	case err != nil:
		return apiError(http.StatusBadRequest, "%v", err)
	}
	return c.JSON(http.StatusCreated, tok)
}

func (s *Server) revokeToken(c echo.Context) error {
	err := s.ops.RevokeTokens(c.Param("id"))
	switch {
	case errors.Is(err, operations.ErrNoToken):
		return apiError(http.StatusNotFound, "%v", err)
	case err != nil:
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
