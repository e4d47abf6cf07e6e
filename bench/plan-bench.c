/* SPDX-License-Identifier: Apache-2.0 */
/* Validate + plan throughput: loads, validates, resolves and lowers one manifest
   N times in this process (what a CI job or `apply` pays per manifest) and
   prints manifests per second. Usage: plan-bench FILE [N] */
#include "config.h"

#include "manifest.h"
#include "model.h"
#include "plan.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main (int argc, char **argv)
{
  if (argc < 2)
    return 2;
  long n = argc > 2 ? atol (argv[2]) : 5000;
  struct timespec a, b;
  clock_gettime (CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++)
    {
      struct firec_diags diags = { 0 };
      firec_error_t err = NULL;
      struct firec_model *model = NULL;
      struct firec_plan *plan = NULL;
      if (firec_model_load (argv[1], NULL, &model, &diags, &err) < 0 || firec_plan_build (model, &plan, &err) < 0)
        {
          fprintf (stderr, "plan-bench: %s\n", err ? err->message : "invalid");
          return 1;
        }
      firec_plan_free (plan);
      firec_model_free (model);
      firec_diags_release (&diags);
    }
  clock_gettime (CLOCK_MONOTONIC, &b);
  double s = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
  printf ("%.0f manifests/s (%ld in %.3f s, %.1f us each)\n", (double) n / s, n, s, s * 1e6 / (double) n);
  return 0;
}
