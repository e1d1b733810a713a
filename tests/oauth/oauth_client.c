/*
 * oauth_client: log in to PostgreSQL 18 with a bearer token, the way an application using libpq
 * does: the token is handed over by libpq's PQsetAuthDataHook (PQAUTHDATA_OAUTH_BEARER_TOKEN),
 * as in PostgreSQL's own src/test/modules/oauth_validator/oauth_hook_client.c.
 *
 *   PG_IDP_TOKEN=... oauth_client CONNINFO [SQL ...]  log in, run each SQL, print its rows
 *                                                 (fields separated by '|') or "error: <message>";
 *                                                 without SQL, one statement per line of stdin
 *   oauth_client -n N CONNINFO                      log in N times one after another and print
 *                                                 "N median_ms p95_ms first_ms" (login only)
 *
 * The token is read from the environment (PG_IDP_TOKEN), never from the command line, where any
 * local user could read it. Without PG_IDP_TOKEN no hook is set: the same client then measures
 * password (SCRAM) logins for comparison.
 * Built by the integration suites that log in (tests/integration/suites/oauth.rs, tenant.sh,
 * launcher.sh) and scripts/bench with the PostgreSQL 18 libpq.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>

static const char *token;

static int
hook(PGauthData type, PGconn *conn, void *data)
{
	if (type == PQAUTHDATA_OAUTH_BEARER_TOKEN && token)
	{
		PGoauthBearerRequest *req = data;

		req->token = (char *) token;	/* static: nothing to clean up */
		return 1;
	}
	return PQdefaultAuthDataHook(type, conn, data);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static void
print_error(PGconn *conn)
{
	char *m = PQerrorMessage(conn), *nl;

	/* one line: libpq's message may span several */
	while ((nl = strchr(m, '\n')) != NULL)
		*nl = ' ';
	printf("error: %s\n", m);
}

/* Run one statement; print its rows (fields separated by '|') or "error: SQLSTATE message". */
static int
run(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int failed = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

		if (state)
			printf("error: %s %s%s%s\n", state, msg ? msg : "", detail ? " / " : "", detail ? detail : "");
		else
			print_error(conn);
		failed = 1;
	}
	else
		for (int r = 0; r < PQntuples(res); r++)
			for (int c = 0; c < PQnfields(res); c++)
				printf("%s%s", PQgetvalue(res, r, c), c + 1 < PQnfields(res) ? "|" : "\n");
	PQclear(res);
	fflush(stdout);
	return failed;
}

int
main(int argc, char **argv)
{
	int n = 0;

	if (argc >= 3 && strcmp(argv[1], "-n") == 0)
	{
		n = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 2)
	{
		fprintf(stderr, "usage: oauth_client [-n N] CONNINFO [SQL]\n");
		return 2;
	}
	token = getenv("PG_IDP_TOKEN");
	if (token && *token)
		PQsetAuthDataHook(hook);
	if (n > 0)
	{
		double *t = calloc(n, sizeof(double));

		for (int i = 0; i < n; i++)
		{
			double start = now_ms();
			PGconn *conn = PQconnectdb(argv[1]);

			if (PQstatus(conn) != CONNECTION_OK)
			{
				print_error(conn);
				return 1;
			}
			t[i] = now_ms() - start;
			PQfinish(conn);
		}
		double first = t[0];

		qsort(t, n, sizeof(double), cmp);
		printf("%d %.3f %.3f %.3f\n", n, t[n / 2], t[(int) (n * 0.95)], first);
		return 0;
	}
	PGconn *conn = PQconnectdb(argv[1]);
	int failed = 0;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		print_error(conn);
		return 1;
	}
	if (argc >= 3)
		for (int i = 2; i < argc; i++)
			failed |= run(conn, argv[i]);
	else
	{
		/* one statement per line of standard input, answered as it comes (tests drive a
		 * long-lived session through a FIFO) */
		char line[65536];

		while (fgets(line, sizeof(line), stdin))
		{
			line[strcspn(line, "\n")] = 0;
			if (*line)
				failed |= run(conn, line);
		}
	}
	PQfinish(conn);
	return failed;
}
