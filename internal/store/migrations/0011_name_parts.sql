-- cmca RA store, version 11: surname (姓) and given name (名) as fields of
-- their own (issue 15, item 10), on the application as applied for and on
-- the applicant's stored profile. An S/MIME certificate carries them as
-- surname (2.5.4.4) and givenName (2.5.4.42); name stays the display name,
-- the commonName, as the applicant wrote it on the form.
--
-- Rows made before this version keep their name and have both parts empty:
-- nothing is guessed from the name. Their certificates come out as before
-- (an S/MIME one carries the whole name in surname). The row bindings of
-- the audit log (binding.go) encode the two columns only when one is set,
-- so digests bound before this version still match.
ALTER TABLE applicants ADD COLUMN surname    TEXT NOT NULL DEFAULT '';
ALTER TABLE applicants ADD COLUMN given_name TEXT NOT NULL DEFAULT '';
ALTER TABLE requests   ADD COLUMN surname    TEXT NOT NULL DEFAULT '';
ALTER TABLE requests   ADD COLUMN given_name TEXT NOT NULL DEFAULT '';
