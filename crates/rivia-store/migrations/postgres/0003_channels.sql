-- Channel history retention drops changes older than 24 h; this index keeps that cheap.
CREATE INDEX changes_created ON changes(created_at);
