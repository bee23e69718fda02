package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"weibao/bot"
)

var _ bot.Directory = (*DB)(nil)

// DirectoryData is the roster, wards and categories as configured.
type DirectoryData struct {
	Campuses   []bot.Campus
	Wards      []bot.Ward
	People     []bot.Person
	Categories []bot.Category
}

// SyncDirectory upserts the configured directory. People, wards and
// categories missing from d are marked inactive, never deleted: old tickets
// still name them. People read from WeCom (SyncDepartmentPeople) are not
// touched unless d names them: then the hand-written entry wins.
func (db *DB) SyncDirectory(ctx context.Context, d DirectoryData) error {
	defer db.directoryChanged()
	return db.transaction(ctx, func(tx *gorm.DB) error {
		upsert := func(rows any, pk string) error {
			return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: pk}}, UpdateAll: true}).Create(rows).Error
		}
		deactivate := func(model any, pk string, keep []string) error {
			q := tx.Model(model).Where("active = ?", true)
			if _, ok := model.(*personRow); ok {
				q = q.Where("source = ?", sourceConfig) // a ward's WeCom department keeps its own
			}
			if len(keep) > 0 {
				q = q.Where(pk+" NOT IN ?", keep)
			}
			return q.Update("active", false).Error
		}
		if len(d.Campuses) > 0 {
			rows := make([]campusRow, len(d.Campuses))
			for i, c := range d.Campuses {
				rows[i] = campusRow{Code: c.Code, Name: c.Name, Lat: c.Lat, Lng: c.Lng}
			}
			if err := upsert(&rows, "code"); err != nil {
				return fmt.Errorf("sync campuses: %w", err)
			}
		}
		var keep []string
		if len(d.Wards) > 0 {
			rows := make([]wardRow, len(d.Wards))
			for i, w := range d.Wards {
				rows[i] = wardRow{Code: w.Code, Name: w.Name, CampusCode: w.CampusCode, ChatID: w.ChatID, Active: true}
				keep = append(keep, w.Code)
			}
			if err := upsert(&rows, "code"); err != nil {
				return fmt.Errorf("sync wards: %w", err)
			}
		}
		if err := deactivate(&wardRow{}, "code", keep); err != nil {
			return fmt.Errorf("sync wards: %w", err)
		}
		keep = nil
		if len(d.People) > 0 {
			rows := make([]personRow, len(d.People))
			for i, p := range d.People {
				rows[i] = personRow{UserID: p.UserID, Name: p.Name, Role: string(p.Role), Mobile: p.Mobile, WardCode: p.WardCode, Active: true,
					Source: sourceConfig}
				keep = append(keep, p.UserID)
			}
			if err := upsert(&rows, "user_id"); err != nil {
				return fmt.Errorf("sync people: %w", err)
			}
		}
		if err := deactivate(&personRow{}, "user_id", keep); err != nil {
			return fmt.Errorf("sync people: %w", err)
		}
		keep = nil
		if len(d.Categories) > 0 {
			rows := make([]categoryRow, len(d.Categories))
			for i, c := range d.Categories {
				rows[i] = categoryRow{Code: c.Code, Name: c.Name, Type: string(c.Type), Difficulty: string(c.Difficulty),
					Keywords: strings.Join(c.Keywords, "|"), SelfHelp: c.SelfHelp, Sort: i, Active: true}
				keep = append(keep, c.Code)
			}
			if err := upsert(&rows, "code"); err != nil {
				return fmt.Errorf("sync categories: %w", err)
			}
		}
		if err := deactivate(&categoryRow{}, "code", keep); err != nil {
			return fmt.Errorf("sync categories: %w", err)
		}
		return nil
	})
}

// SyncDepartmentPeople makes people, read from the wards' WeCom departments,
// the roster's WeCom people: each is upserted unless a hand-written (config)
// entry is active under the same user id, which stays as written; WeCom
// people missing from people are marked inactive (they left the department),
// never a hand-written one. It reports how many joined (new or back) and left.
func (db *DB) SyncDepartmentPeople(ctx context.Context, people []bot.Person) (joined, left int, err error) {
	defer db.directoryChanged()
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		joined, left = 0, 0
		var have []personRow
		if err := tx.Find(&have).Error; err != nil {
			return fmt.Errorf("sync department people: %w", err)
		}
		rows := map[string]personRow{}
		for _, r := range have {
			rows[r.UserID] = r
		}
		var upsert []personRow
		keep := []string{}
		for _, p := range people {
			r, ok := rows[p.UserID]
			if ok && r.Source == sourceConfig && r.Active {
				continue
			}
			keep = append(keep, p.UserID)
			if !ok || !r.Active {
				joined++
			}
			upsert = append(upsert, personRow{UserID: p.UserID, Name: p.Name, Role: string(p.Role), Mobile: p.Mobile,
				WardCode: p.WardCode, Active: true, Source: sourceWeCom})
		}
		if len(upsert) > 0 {
			if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "user_id"}}, UpdateAll: true}).Create(&upsert).Error; err != nil {
				return fmt.Errorf("sync department people: %w", err)
			}
		}
		q := tx.Model(&personRow{}).Where("active = ? AND source = ?", true, sourceWeCom)
		if len(keep) > 0 {
			q = q.Where("user_id NOT IN ?", keep)
		}
		res := q.Update("active", false)
		if res.Error != nil {
			return fmt.Errorf("sync department people: %w", res.Error)
		}
		left = int(res.RowsAffected)
		return nil
	})
	return joined, left, err
}

func notFound(err error, what, key string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s %q: %w", what, key, bot.ErrNotFound)
	}
	return fmt.Errorf("%s %q: %w", what, key, err)
}

// Person returns anyone ever on the roster (inactive people too, with Active false).
func (db *DB) Person(ctx context.Context, userID string) (*bot.Person, error) {
	p, err := cachedDir(db, "person:"+userID, func() (bot.Person, error) {
		var r personRow
		if err := db.gdb.WithContext(ctx).Where("user_id = ?", userID).Take(&r).Error; err != nil {
			return bot.Person{}, notFound(err, "person", userID)
		}
		return r.toPerson(), nil
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// People lists the active people with role, or everyone active when role is empty.
func (db *DB) People(ctx context.Context, role bot.Role) ([]bot.Person, error) {
	ps, err := cachedDir(db, "people:"+string(role), func() ([]bot.Person, error) {
		q := db.gdb.WithContext(ctx).Where("active = ?", true)
		if role != "" {
			q = q.Where("role = ?", role)
		}
		var rows []personRow
		if err := q.Order("user_id").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("people: %w", err)
		}
		out := make([]bot.Person, len(rows))
		for i := range rows {
			out[i] = rows[i].toPerson()
		}
		return out, nil
	})
	return slices.Clone(ps), err
}

// Ward returns an active ward by code.
func (db *DB) Ward(ctx context.Context, code string) (*bot.Ward, error) {
	return db.ward(ctx, "code = ?", code)
}

// WardByChat returns the active ward mapped to a WeCom group.
func (db *DB) WardByChat(ctx context.Context, chatID string) (*bot.Ward, error) {
	if chatID == "" {
		return nil, fmt.Errorf("ward for empty chat: %w", bot.ErrNotFound)
	}
	return db.ward(ctx, "chat_id = ?", chatID)
}

func (db *DB) ward(ctx context.Context, cond, v string) (*bot.Ward, error) {
	w, err := cachedDir(db, "ward:"+cond+v, func() (bot.Ward, error) {
		var r wardRow
		if err := db.gdb.WithContext(ctx).Where(cond, v).Where("active = ?", true).Take(&r).Error; err != nil {
			return bot.Ward{}, notFound(err, "ward", v)
		}
		return r.toWard(), nil
	})
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// Wards lists the active wards.
func (db *DB) Wards(ctx context.Context) ([]bot.Ward, error) {
	ws, err := cachedDir(db, "wards", func() ([]bot.Ward, error) {
		var rows []wardRow
		if err := db.gdb.WithContext(ctx).Where("active = ?", true).Order("code").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("wards: %w", err)
		}
		out := make([]bot.Ward, len(rows))
		for i := range rows {
			out[i] = rows[i].toWard()
		}
		return out, nil
	})
	return slices.Clone(ws), err
}

// Campus returns a campus by code.
func (db *DB) Campus(ctx context.Context, code string) (*bot.Campus, error) {
	var r campusRow
	if err := db.gdb.WithContext(ctx).Where("code = ?", code).Take(&r).Error; err != nil {
		return nil, notFound(err, "campus", code)
	}
	return &bot.Campus{Code: r.Code, Name: r.Name, Lat: r.Lat, Lng: r.Lng}, nil
}

// Categories lists the active fault categories in configured order.
func (db *DB) Categories(ctx context.Context) ([]bot.Category, error) {
	cs, err := cachedDir(db, "categories", func() ([]bot.Category, error) {
		var rows []categoryRow
		if err := db.gdb.WithContext(ctx).Where("active = ?", true).Order("sort, code").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		out := make([]bot.Category, len(rows))
		for i := range rows {
			out[i] = rows[i].toCategory()
		}
		return out, nil
	})
	return slices.Clone(cs), err
}
