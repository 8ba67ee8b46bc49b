# prfaas_glue_code(target batch): how the actor and application code compiles.
#
# That code turns messages into calls of runtime/ and holds state; a request's time goes to
# libcaf, the kernel and runtime/ (compiled with the build type's flags), and the code's compile
# time to CAF's templates, which every file instantiates again.  So, on one of those targets:
# - `batch` files per compiler run (unity build): headers parsed and templates instantiated once
#   per batch, not once per file.  Names local to a file must stay distinct across the target.
# - -O1 in optimised builds: measured on this project's actors, about as fast to compile as -O0
#   and 30 % faster than -O2/-O3.
function(prfaas_glue_code target batch)
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${batch})
  target_compile_options(${target} PRIVATE $<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-O1>)
endfunction()
