-- cmca RA store, version 14, PostgreSQL: the same as ../0014_ocsp_service_certs.sql.
-- OCSP answers for every certificate the CA issued, also those cmca issued
-- for its own use (service_certificates, version 7: operator credentials,
-- the server's TLS certificate). Their pre-signed responses live in
-- ocsp_responses too, so its serial no longer refers to certificates alone
-- (a response is stored only for a serial in either table:
-- store.PutOCSPResponse checks).
ALTER TABLE ocsp_responses DROP CONSTRAINT ocsp_responses_serial_fkey;
