package storage

import (
	"context"
	"fmt"
	"time"

	"weibao/bot"
)

// jobRunRow is one execution of a scheduled job (the scheduler's history).
type jobRunRow struct {
	ID          int64      `gorm:"primaryKey"`
	Job         string     `gorm:"size:64;not null;index:idx_job_runs_job,priority:1"`
	ScheduledAt time.Time  `gorm:"not null;index:idx_job_runs_job,priority:2"`
	Replica     string     `gorm:"size:64"`
	StartedAt   time.Time  `gorm:"not null;index"`
	EndedAt     *time.Time `gorm:""`
	Result      string     `gorm:"size:12;not null"`
	Error       string     `gorm:"type:text"`
}

func (jobRunRow) TableName() string { return "job_runs" }

func (r *jobRunRow) toRun() bot.JobRun {
	return bot.JobRun{ID: r.ID, Job: r.Job, Scheduled: r.ScheduledAt.UTC(), Replica: r.Replica, Started: r.StartedAt.UTC(),
		Ended: fromNull(r.EndedAt), Result: r.Result, Error: r.Error}
}

// RunStarted records a job run that has begun and returns its id.
func (db *DB) RunStarted(ctx context.Context, r bot.JobRun) (int64, error) {
	row := jobRunRow{Job: r.Job, ScheduledAt: ms(r.Scheduled), Replica: r.Replica, StartedAt: ms(r.Started), Result: "running"}
	if err := db.gdb.WithContext(ctx).Create(&row).Error; err != nil {
		return 0, fmt.Errorf("job run %s: %w", r.Job, err)
	}
	return row.ID, nil
}

// RunFinished records how a run ended ("ok", "error", "skipped").
func (db *DB) RunFinished(ctx context.Context, id int64, ended time.Time, result, errText string) error {
	err := db.gdb.WithContext(ctx).Model(&jobRunRow{}).Where("id = ?", id).
		Updates(map[string]any{"ended_at": ms(ended), "result": result, "error": errText}).Error
	if err != nil {
		return fmt.Errorf("job run %d: %w", id, err)
	}
	return nil
}

// RunSucceeded reports whether job already ran successfully for scheduled.
func (db *DB) RunSucceeded(ctx context.Context, job string, scheduled time.Time) (bool, error) {
	var n int64
	err := db.gdb.WithContext(ctx).Model(&jobRunRow{}).
		Where("job = ? AND scheduled_at = ? AND result = ?", job, ms(scheduled), "ok").Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("job runs %s: %w", job, err)
	}
	return n > 0, nil
}

// Runs lists the latest runs, newest first; job "" lists every job's.
func (db *DB) Runs(ctx context.Context, job string, offset, limit int) ([]bot.JobRun, error) {
	q := db.gdb.WithContext(ctx).Order("started_at DESC, id DESC")
	if job != "" {
		q = q.Where("job = ?", job)
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var rows []jobRunRow
	if err := q.Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("job runs: %w", err)
	}
	out := make([]bot.JobRun, len(rows))
	for i := range rows {
		out[i] = rows[i].toRun()
	}
	return out, nil
}
