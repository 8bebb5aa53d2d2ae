package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/opengateway/gateway/core"
)

// counts are the sums of the rows of conversation_counts a viewer sees
// (migration 00072: a trigger keeps them with each change of a
// conversation), so that the figures never count the conversations.
type counts struct {
	byStatus              map[string]int
	unassigned, unreplied int
	frSum, resSum         float64
	frN, resN             int
	agents                map[string][2]int // active, unreplied
	topics                map[string]core.TopicFigures
}

// countsFor sums the counts of the conversations v sees, of inbox ("":
// every inbox); agent "" leaves out the agents' rows, and so does topics
// false the topics'.
func (t *tx) countsFor(ctx context.Context, v *core.Viewer, agent, inbox string, topics bool) (counts, error) {
	c := counts{byStatus: map[string]int{}, agents: map[string][2]int{}, topics: map[string]core.TopicFigures{}}
	vis, args := t.s.visibleTo("visible_to", v)
	vis, args = inboxIs(vis, args, "inbox", inbox)
	kinds := "kind = 's'"
	if agent != "" {
		kinds += " OR (kind = 'a' AND key = ?)"
		args = append([]any{agent}, args...)
	}
	if topics {
		kinds += " OR kind = 't'"
	}
	rows, err := t.query(ctx, `SELECT kind, key, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied),
		SUM(fr_sum), SUM(fr_n), SUM(res_sum), SUM(res_n) FROM conversation_counts
		WHERE (`+kinds+`) AND `+vis+` GROUP BY kind, key`, args...)
	if err != nil {
		return c, fmt.Errorf("sqlstore: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, key string
		var n, closed, unassigned, unreplied, frN, resN int
		var frSum, resSum float64
		if err := rows.Scan(&kind, &key, &n, &closed, &unassigned, &unreplied, &frSum, &frN, &resSum, &resN); err != nil {
			return c, fmt.Errorf("sqlstore: counts: %w", err)
		}
		switch kind {
		case "s":
			if n != 0 {
				c.byStatus[key] = n
			}
			c.unassigned += unassigned
			c.unreplied += unreplied
			c.frSum, c.frN, c.resSum, c.resN = c.frSum+frSum, c.frN+frN, c.resSum+resSum, c.resN+resN
		case "a":
			c.agents[key] = [2]int{n, unreplied}
		case "t":
			if n != 0 || closed != 0 {
				c.topics[key] = core.TopicFigures{Active: n, Closed: closed, Unreplied: unreplied}
			}
		}
	}
	return c, rows.Err()
}

// topTopics keeps the MaxStatsTopics topics of the most active
// conversations, then the most closed, then by name.
func topTopics(all map[string]core.TopicFigures) map[string]core.TopicFigures {
	if len(all) <= core.MaxStatsTopics {
		return all
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := all[names[i]], all[names[j]]
		if a.Active != b.Active {
			return a.Active > b.Active
		}
		if a.Closed != b.Closed {
			return a.Closed > b.Closed
		}
		return names[i] < names[j]
	})
	out := make(map[string]core.TopicFigures, core.MaxStatsTopics)
	for _, k := range names[:core.MaxStatsTopics] {
		out[k] = all[k]
	}
	return out
}

func (t *tx) Stats(ctx context.Context, agent, inbox string, v *core.Viewer) (core.Stats, error) {
	st := core.Stats{ByStatus: map[string]int{core.StatusNew: 0, core.StatusOpen: 0, core.StatusWaiting: 0, core.StatusClosed: 0}}
	c, err := t.countsFor(ctx, v, agent, inbox, true)
	if err != nil {
		return st, err
	}
	for s, n := range c.byStatus {
		st.ByStatus[s] = n
	}
	st.Unassigned, st.Unreplied = c.unassigned, c.unreplied
	st.ConversationsWithReplies, st.Resolved = c.frN, c.resN
	if c.frN > 0 {
		st.FirstResponseSecondsAvg = floatPtr(sql.NullFloat64{Float64: c.frSum / float64(c.frN), Valid: true})
	}
	if c.resN > 0 {
		st.ResolutionSecondsAvg = floatPtr(sql.NullFloat64{Float64: c.resSum / float64(c.resN), Valid: true})
	}
	vis, visArgs := t.s.visibleTo("visible_to", v)
	vis, visArgs = inboxIs(vis, visArgs, "inbox", inbox)
	if err := t.row(ctx, `SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')
		AND conversation_id IN (SELECT id FROM conversations WHERE `+vis+`)`, visArgs...).Scan(&st.DispatchPending); err != nil {
		return st, fmt.Errorf("sqlstore: outbox stats: %w", err)
	}
	if agent != "" {
		a := c.agents[agent]
		st.AgentAssigned, st.AgentUnreplied = &a[0], &a[1]
	}
	st.ByTopic = topTopics(c.topics)
	return st, nil
}

// assignedTo counts the active conversations an agent is assigned to, of
// those v sees, and their unreplied messages (of those a human handles).
func (t *tx) assignedTo(ctx context.Context, agent, inbox string, v *core.Viewer) (assigned, unreplied int, err error) {
	c, err := t.countsFor(ctx, v, agent, inbox, false)
	a := c.agents[agent]
	return a[0], a[1], err
}

// inboxIs adds to the condition cond (with its arguments args) that column
// is inbox, unless inbox is "".
func inboxIs(cond string, args []any, column, inbox string) (string, []any) {
	if inbox == "" {
		return cond, args
	}
	return "(" + cond + ") AND " + column + " = ?", append(args, inbox)
}
