package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// RegisterConsole mounts the web console (package console) at /console/
// and, when tryPage is set, the try-it page at /try.
func (s *Server) RegisterConsole(console http.Handler, tryPage bool) {
	h := gin.WrapH(console)
	s.engine.GET("/console", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/console/") })
	s.engine.Any("/console/*path", h)
	if tryPage {
		s.engine.GET("/try", h)
		s.engine.Any("/try/*path", h)
	}
}
