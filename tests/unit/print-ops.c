/* SPDX-License-Identifier: MIT */
/*
 * Prints the protocol's table of operations and their arguments
 * (lib/protocol/ops_table.c), one line per argument, for the tests that
 * check the documentation and rdqctl against it:
 *   OP ARG TYPE required|optional MIN MAX DEFAULT [CHOICE,...]
 * and "OP -" for an op without arguments.
 */
#include <inttypes.h>
#include <stdio.h>

#include "protocol/ops_table.h"

int main(void)
{
	for (int o = 0; o < RDQ_OP_COUNT; o++) {
		const struct rdq_op_spec *op = &rdq_ops[o];

		if (op->nargs == 0)
			printf("%s -\n", op->name);
		for (unsigned i = 0; i < op->nargs; i++) {
			const struct rdq_arg_spec *a = &op->args[i];

			printf("%s %s %s %s %" PRId64 " %" PRId64 " %" PRId64, op->name, a->name,
			       rdq_arg_type_name(a->type), a->required ? "required" : "optional",
			       a->min, a->max, a->def);
			for (int c = 0; a->choices && a->choices[c]; c++)
				printf("%s%s", c ? "," : " ", a->choices[c]);
			printf("\n");
		}
	}
	return 0;
}
