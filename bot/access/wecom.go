package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"weibao/bot"
)

// Identity turns a WeCom web login's OAuth code into the user id WeCom
// vouches for (wecom.Client through the app API's auth/getuserinfo).
type Identity interface {
	UserFromCode(ctx context.Context, code string) (string, error)
}

// LoginWeCom is the first factor: WeCom says who the browser's user is.
// It opens a session that may read (Strong false) and sends the second
// factor, a one-time code, to the person's WeCom 1:1 through the outbox.
// Only engineers and leads may log in; a nurse's login is refused.
func (s *Service) LoginWeCom(ctx context.Context, id Identity, code string, from From) (string, Principal, error) {
	if err := s.limit(ctx, "ip:"+from.IP); err != nil {
		s.loginFailed(ctx, "", "login.wecom", from, err)
		return "", Principal{}, err
	}
	userID, err := id.UserFromCode(ctx, code)
	if err != nil {
		s.loginFailed(ctx, "", "login.wecom", from, err)
		return "", Principal{}, err
	}
	if err := s.limit(ctx, "user:"+userID); err != nil {
		s.loginFailed(ctx, userID, "login.wecom", from, err)
		return "", Principal{}, err
	}
	p, err := s.activePerson(ctx, userID)
	if err == nil && MaxRole(p.Role) == Nurse {
		err = ErrUnauthenticated
	}
	if err != nil {
		s.loginFailed(ctx, userID, "login.wecom", from, err)
		return "", Principal{}, err
	}
	role := MaxRole(p.Role)
	raw, ss, err := s.newSession(ctx, p.UserID, role, 0, false)
	if err != nil {
		return "", Principal{}, err
	}
	pr := Principal{UserID: p.UserID, Name: p.Name, Role: role, SessionID: ss.ID}
	if err := s.SendCode(ctx, pr); err != nil {
		return "", Principal{}, err
	}
	err = s.audit(ctx, Entry{Actor: p.UserID, Action: "login.wecom", Target: fmt.Sprintf("session:%d", ss.ID),
		After: asJSON(map[string]any{"role": role, "strong": false}), IP: from.IP, Agent: from.UserAgent})
	return raw, pr, err
}

// SendCode queues a fresh one-time code (valid CodeTTL, one use) to p's
// WeCom 1:1; an earlier unused code of the session stops counting.
func (s *Service) SendCode(ctx context.Context, p Principal) error {
	if p.SessionID == 0 {
		return errors.New("send code: not a session")
	}
	code := sixDigits()
	now := s.clock.Now()
	msg := s.codeMessage(p, code, now.UnixNano())
	return s.store.CreateCode(ctx, p.SessionID, Hash(code), now.Add(CodeTTL), msg)
}

// VerifyCode is the second factor: the code the bot sent, once, within
// CodeTTL. Attempts are limited per client IP and per account, so six
// digits are not worth guessing.
func (s *Service) VerifyCode(ctx context.Context, p Principal, code string, from From) error {
	if err := s.limit(ctx, "ip:"+from.IP, "user:"+p.UserID); err != nil {
		s.loginFailed(ctx, p.UserID, "login.code", from, err)
		return err
	}
	ok, err := s.store.UseCode(ctx, p.SessionID, Hash(code), s.clock.Now())
	if err != nil {
		return err
	}
	if !ok {
		s.loginFailed(ctx, p.UserID, "login.code", from, ErrUnauthenticated)
		return ErrUnauthenticated
	}
	if err := s.store.StrengthenSession(ctx, p.SessionID); err != nil {
		return err
	}
	return s.audit(ctx, Entry{Actor: p.UserID, Action: "login.code", Target: fmt.Sprintf("session:%d", p.SessionID),
		After: asJSON(map[string]any{"strong": true}), IP: from.IP, Agent: from.UserAgent})
}

// codeMessage is the one-time code's 1:1 message. Its key is unique per
// code, so a resend is a new message, never deduplicated away.
func (s *Service) codeMessage(p Principal, code string, nonce int64) bot.Outgoing {
	return bot.Outgoing{
		Key:     fmt.Sprintf("login-code:%d:%d", p.SessionID, nonce),
		ToUsers: []string{p.UserID},
		Format:  bot.FormatText,
		Text:    s.texts.Text("admin.login_code", map[string]any{"code": code, "minutes": int(CodeTTL / time.Minute)}),
	}
}
