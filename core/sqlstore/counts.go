package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"

	"github.com/opengateway/gateway/core"
)

// counts are the sums of the rows of conversation_counts a viewer sees
// (migration 00072: a trigger keeps them with each change of a
// conversation), so that the figures never count the conversations; and
// the replies waiting to be sent of those conversations.
type counts struct {
	byStatus              map[string]int
	unassigned, unreplied int
	frSum, resSum         float64
	frN, resN             int
	agents                map[string][2]int // active, unreplied
	topics                map[string]core.TopicFigures
	outbox                int
}

// countsFor sums the counts of the conversations v sees, of inbox ("":
// every inbox), the agent's (agent "": no agent's) and the topics', and
// counts their replies waiting to be sent (pending, sending), in one
// statement: the outbox count is a row of kind 'o'.
func (t *tx) countsFor(ctx context.Context, v *core.Viewer, agent, inbox string) (counts, error) {
	c := counts{byStatus: map[string]int{}, agents: map[string][2]int{}, topics: map[string]core.TopicFigures{}}
	vis, visArgs := t.s.visibleTo("visible_to", v)
	vis, visArgs = inboxIs(vis, visArgs, "inbox", inbox)
	kinds, args := "kind = 's' OR kind = 't'", slices.Clone(visArgs)
	if agent != "" {
		kinds += " OR (kind = 'a' AND key = ?)"
		args = append([]any{agent}, args...)
	}
	rows, err := t.query(ctx, `SELECT kind, key, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied),
		SUM(fr_sum), SUM(fr_n), SUM(res_sum), SUM(res_n) FROM conversation_counts
		WHERE (`+kinds+`) AND `+vis+` GROUP BY kind, key
		UNION ALL SELECT 'o', '', COUNT(*), 0, 0, 0, 0, 0, 0, 0 FROM outbox WHERE state IN ('pending', 'sending')
		AND conversation_id IN (SELECT id FROM conversations WHERE `+vis+`)`, append(args, visArgs...)...)
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
		case "o":
			c.outbox = n
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
	c, err := t.countsFor(ctx, v, agent, inbox)
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
	st.DispatchPending = c.outbox
	if agent != "" {
		a := c.agents[agent]
		st.AgentAssigned, st.AgentUnreplied = &a[0], &a[1]
	}
	st.ByTopic = topTopics(c.topics)
	return st, nil
}

// inboxIs adds to the condition cond (with its arguments args) that column
// is inbox, unless inbox is "".
func inboxIs(cond string, args []any, column, inbox string) (string, []any) {
	if inbox == "" {
		return cond, args
	}
	return "(" + cond + ") AND " + column + " = ?", append(args, inbox)
}
