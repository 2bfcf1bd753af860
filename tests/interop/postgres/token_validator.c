/*
 * A PostgreSQL 18 OAuth validator module for oauthbearer's test suite.
 *
 * Test infrastructure, not a validator to deploy: it trusts a file. The
 * fixture in tests/real_postgres.py compiles it with -DTOKENS_FILE="<path>"
 * and writes that file, one grant per line:
 *
 *     <token> SP <authn id> LF
 *
 * A token listed there is authorized with that authn id (PostgreSQL then
 * checks the id against the role, or against a usermap); any other token is
 * refused, and the server answers with its error challenge. The file is read
 * on every validation, so a test can grant new tokens while the server runs.
 */
#include "postgres.h"

#include <stdio.h>
#include <string.h>

#include "fmgr.h"
#include "libpq/oauth.h"

PG_MODULE_MAGIC;

#ifndef TOKENS_FILE
#error "compile with -DTOKENS_FILE=\"/path/to/tokens\""
#endif

static bool validate_token(const ValidatorModuleState *state, const char *token,
						   const char *role, ValidatorModuleResult *result);

static const OAuthValidatorCallbacks callbacks = {
	PG_OAUTH_VALIDATOR_MAGIC,
	.validate_cb = validate_token,
};

const OAuthValidatorCallbacks *
_PG_oauth_validator_module_init(void)
{
	return &callbacks;
}

static bool
validate_token(const ValidatorModuleState *state, const char *token,
			   const char *role, ValidatorModuleResult *result)
{
	FILE	   *file;
	char	   *line;
	size_t		token_len = strlen(token);
	/* A line holds a token of up to PG_MAX_AUTH_TOKEN_LENGTH and an id. */
	const size_t line_size = 65536 + 1024;

	result->authorized = false;
	result->authn_id = NULL;

	file = fopen(TOKENS_FILE, "r");
	if (file == NULL)
		return true;			/* no file: every token is refused */

	line = palloc(line_size);
	while (fgets(line, line_size, file) != NULL)
	{
		char	   *space = strchr(line, ' ');
		char	   *end;

		if (space == NULL || (size_t) (space - line) != token_len ||
			strncmp(line, token, token_len) != 0)
			continue;
		end = space + 1 + strcspn(space + 1, "\n");
		*end = '\0';
		result->authorized = true;
		result->authn_id = pstrdup(space + 1);
		break;
	}
	pfree(line);
	fclose(file);
	return true;
}
