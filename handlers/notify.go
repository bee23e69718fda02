package handlers

import (
	"log/slog"

	"github.com/gin-gonic/gin"

	"weibao/sla/pager"
	"weibao/sla/pager/aliyun"
	"weibao/sla/pager/tencent"
	"weibao/sla/pager/webhook"
)

// NotifyOptions configure the phone providers' receipt pushes.
type NotifyOptions struct {
	// Sink takes the receipts (escalation.Engine.Receipts): it stores them
	// and returns, and a "1" pressed on a paging call later acknowledges
	// the ticket through the ticketing service.
	Sink pager.ReceiptSink
	// Aliyun and Tencent register their routes when set.
	Aliyun, Tencent bool
	// Webhooks are the signed gateways, each at /notify/webhook/<name>.
	Webhooks []*webhook.Client
	Logger   *slog.Logger
}

// RegisterNotify adds POST /notify/aliyun/receipt (VoiceReport and
// VoiceCallReport HTTP push), POST /notify/tencent/callback (VMS status and
// key-press callbacks) and POST /notify/webhook/<name> (a gateway's signed
// receipts). Each answers in the provider's required shape within its
// deadline; verification and deduplication are the push handlers'.
func (s *Server) RegisterNotify(opt NotifyOptions) {
	log := opt.Logger
	if log == nil {
		log = s.opt.Logger
	}
	if opt.Aliyun {
		s.engine.POST("/notify/aliyun/receipt", gin.WrapH(aliyun.NewReceiptHandler(opt.Sink, log.With("provider", aliyun.Provider))))
	}
	if opt.Tencent {
		s.engine.POST("/notify/tencent/callback", gin.WrapH(tencent.NewCallbackHandler(opt.Sink, log.With("provider", tencent.Provider))))
	}
	for _, c := range opt.Webhooks {
		s.engine.POST("/notify/webhook/"+c.Provider(), gin.WrapH(c.NewReceiptHandler(opt.Sink, log.With("provider", c.Provider()))))
	}
}
