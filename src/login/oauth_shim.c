/*
 * oauth_shim.c: what pg_idp's OAuth validator (src/login/oauth.rs) reads of the connection being
 * authenticated, through PostgreSQL 18's own declarations of Port (libpq/libpq-be.h) and
 * HbaLine (libpq/hba.h). pgrx declares both structs opaque; build.rs compiles this file against
 * the server headers of the pg_config pgrx builds against (feature pg18 only), so the fields
 * are found where that server put them, whatever the distribution or build options.
 *
 * Exactly these fields, nothing else: Port.user_name, Port.database_name, Port.hba,
 * HbaLine.auth_method (compared with uaOAuth here), HbaLine.oauth_skip_usermap (the
 * delegate_ident_mapping option of an oauth line), and HbaLine.oauth_issuer and oauth_scope (the
 * line's issuer and scope options, which the validator checks the token against). Every
 * function accepts NULL and then answers NULL or false, so the caller refuses the login.
 */
#include "postgres.h"

#include "libpq/hba.h"
#include "libpq/libpq-be.h"

/* PostgreSQL 18 and later: oauth lines and their fields appeared in 18. */
#if PG_VERSION_NUM < 180000
#error "src/oauth_shim.c needs the server headers of PostgreSQL 18 or later"
#endif

/* The validator declares these as bool: C's bool must be Rust's (one byte, 0 or 1). */
StaticAssertDecl(sizeof(bool) == 1, "bool is one byte");

extern const char *pg_idp_shim_port_user_name(const Port *port);
extern const char *pg_idp_shim_port_database_name(const Port *port);
extern const HbaLine *pg_idp_shim_port_hba(const Port *port);
extern bool pg_idp_shim_hba_is_oauth(const HbaLine *hba);
extern bool pg_idp_shim_hba_delegated(const HbaLine *hba);
extern const char *pg_idp_shim_hba_issuer(const HbaLine *hba);
extern const char *pg_idp_shim_hba_scope(const HbaLine *hba);

/* The role the client asked for (startup packet), as PostgreSQL passes it to the validator. */
const char *
pg_idp_shim_port_user_name(const Port *port)
{
	return port ? port->user_name : NULL;
}

/*
 * The database the client asked for (startup packet; the user name when none was given, "" for
 * a physical replication connection): the name InitPostgres opens once authentication is done.
 */
const char *
pg_idp_shim_port_database_name(const Port *port)
{
	return port ? port->database_name : NULL;
}

/* The pg_hba.conf line that matched the connection. */
const HbaLine *
pg_idp_shim_port_hba(const Port *port)
{
	return port ? port->hba : NULL;
}

/* Whether the line's method is oauth. */
bool
pg_idp_shim_hba_is_oauth(const HbaLine *hba)
{
	return hba != NULL && hba->auth_method == uaOAuth;
}

/*
 * Whether the oauth line has delegate_ident_mapping=1 (the validator decides the role; otherwise
 * pg_ident.conf does, with the line's map). False for a line that is not oauth.
 */
bool
pg_idp_shim_hba_delegated(const HbaLine *hba)
{
	return pg_idp_shim_hba_is_oauth(hba) && hba->oauth_skip_usermap;
}

/* The oauth line's issuer option (an issuer identifier or a discovery URL); NULL otherwise. */
const char *
pg_idp_shim_hba_issuer(const HbaLine *hba)
{
	return pg_idp_shim_hba_is_oauth(hba) ? hba->oauth_issuer : NULL;
}

/* The oauth line's scope option (space-separated); NULL when absent or not an oauth line. */
const char *
pg_idp_shim_hba_scope(const HbaLine *hba)
{
	return pg_idp_shim_hba_is_oauth(hba) ? hba->oauth_scope : NULL;
}
