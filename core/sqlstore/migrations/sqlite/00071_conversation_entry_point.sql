-- +goose Up
-- The entry point a conversation started at (one way in: a Twilio number, a
-- WhatsApp phone number id, a page, a mailbox, a chat site), written once
-- when the conversation is created. Existing conversations get the entry
-- point derived from their first message's provider and channel, as
-- core.EntryPointOf derives it; '' when they have no message.
ALTER TABLE conversations ADD COLUMN entry_point TEXT NOT NULL DEFAULT '';
UPDATE conversations SET entry_point = COALESCE((
    SELECT CASE
        WHEN m.channel = 'voice' THEN 'voice'
        WHEN m.provider = 'twilio' THEN 'twilio'
        WHEN m.provider = 'meta_whatsapp' THEN 'whatsapp'
        WHEN m.provider = 'meta_messenger' THEN 'messenger'
        WHEN m.provider = 'meta_instagram' THEN 'instagram'
        WHEN m.provider = 'sendgrid' THEN 'sendgrid'
        WHEN m.provider = 'webchat' THEN 'webchat'
        WHEN m.channel IN ('sms', 'mms') THEN 'twilio'
        WHEN m.channel = 'whatsapp' THEN 'whatsapp'
        WHEN m.channel = 'messenger' THEN 'messenger'
        WHEN m.channel = 'instagram' THEN 'instagram'
        WHEN m.channel = 'email' THEN 'sendgrid'
        WHEN m.channel = 'chat' THEN 'webchat'
        ELSE '' END
    FROM messages m WHERE m.conversation_id = conversations.id AND m.kind = 'message'
    ORDER BY m.created_at, m.id LIMIT 1), '');
-- GET /v1/conversations?entry_point= in newest-activity order: the first
-- page is a seek, however few conversations the entry point has.
CREATE INDEX conversations_entry_point ON conversations (entry_point, last_activity_at, id);

-- +goose Down
DROP INDEX conversations_entry_point;
ALTER TABLE conversations DROP COLUMN entry_point;
