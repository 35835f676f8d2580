-- cmca RA store, version 11, PostgreSQL: the same as ../0011_name_parts.sql.
-- Surname (姓) and given name (名) as fields of their own (issue 15, item
-- 10), on the application as applied for and on the applicant's stored
-- profile. Rows made before this version keep their name and have both
-- parts empty; the audit bindings encode the two columns only when one is
-- set, so digests bound before this version still match.
ALTER TABLE applicants ADD COLUMN surname    TEXT NOT NULL DEFAULT '';
ALTER TABLE applicants ADD COLUMN given_name TEXT NOT NULL DEFAULT '';
ALTER TABLE requests   ADD COLUMN surname    TEXT NOT NULL DEFAULT '';
ALTER TABLE requests   ADD COLUMN given_name TEXT NOT NULL DEFAULT '';
