-- migrations/0001_notes.sql
CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX notes_created ON notes (created_at);
