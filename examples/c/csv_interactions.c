/* rapport-example-csv: a service that records an interaction for every
 * line of a CSV file, through librapport.
 *
 *   rapport-example-csv FILE [RUN_ID]
 *
 * Each line is "contact_no,template_code,description" (no quoting; a line
 * starting with '#' is skipped). Line n is sent with the request_id
 * "RUN_ID-n": run the same file again with the same RUN_ID after a crash
 * and the lines already recorded are answered from the workers' idempotency
 * records instead of being recorded twice. Without RUN_ID, each line gets a
 * fresh id. Prints "line N: entry E" per line, or the refusal with its
 * field; exits 1 when a line was refused, 3 when a worker did not answer.
 *
 * Build: cc csv_interactions.c $(pkg-config --cflags --libs rapport) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rapport/client.h>

static char s_empty[] = "";

/* The field at *rest, up to the next comma (cut there), and *rest moves past
 * it: NULL after the last field. */
static char *s_cut(char **rest)
{
    char *field = *rest, *comma = field ? strchr(field, ',') : NULL;

    *rest = comma ? comma + 1 : NULL;
    if (comma)
        *comma = '\0';
    return field;
}

/* Record one line; returns librapport's code. */
static int s_record(rapport_client *c, char *line, const char *run_id, size_t line_no)
{
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;
    Rapport__V1__InteractionReply *reply;
    rapport_call_opts opts = {0};
    rapport_error err;
    char id[80];
    char *rest = line;
    char *contact = s_cut(&rest), *template = s_cut(&rest), *desc = rest;
    int code;

    if (!contact || !template) {
        printf("line %zu: expected contact_no,template_code,description\n", line_no);
        return RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT;
    }
    f.contact_no = contact;
    f.interaction_template_code = template;
    f.description = desc ? desc : s_empty;
    ci.origin = RAPPORT__V1__ORIGIN__ORIGIN_CONTACT;
    ci.fields = &f;
    if (run_id) {
        snprintf(id, sizeof(id), "%s-%zu", run_id, line_no);
        opts.request_id = id;
    }
    code = rapport_interaction_create_interaction(c, &ci, &opts, &reply, &err);
    if (code == 0)
        printf("line %zu: entry %llu\n", line_no, (unsigned long long)reply->entry->entry_no);
    else
        printf("line %zu: %s%s%s\n", line_no, err.message, err.field[0] ? " - field " : "",
               err.field);
    rapport_reply_free(reply);
    return code;
}

int main(int argc, char **argv)
{
    rapport_client *c;
    rapport_error err;
    char line[4096];
    size_t line_no = 0;
    int status = 0;
    FILE *in;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE [RUN_ID]\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    if (rapport_client_new(NULL, &c, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        fclose(in);
        return 2;
    }
    while (fgets(line, sizeof(line), in)) {
        int code;

        line_no++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        code = s_record(c, line, argc == 3 ? argv[2] : NULL, line_no);
        if (code == RAPPORT__V1__STATUS_CODE__DEADLINE_EXCEEDED ||
            code == RAPPORT__V1__STATUS_CODE__UNAVAILABLE) {
            status = 3; /* run again with the same RUN_ID later */
            break;
        }
        if (code != 0)
            status = 1;
    }
    rapport_client_destroy(&c);
    fclose(in);
    return status;
}
