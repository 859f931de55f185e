# qmk-api's make file, read after QMK's (see src/compile/builder.rs).
#
# QMK adds compiler options through `$(call cc-option,...)`, a shell that compiles
# /dev/null, inside flags that make expands again for every compile: hundreds of
# shells a build. Where cc-option's definition depends on nothing but its three
# arguments and $(CC), its result for given arguments and compiler never changes within
# a make process: the first result is kept in a variable named after them and reused.
# Any other definition is left as it is.

qmk-api-empty :=
qmk-api-space := $(qmk-api-empty) $(qmk-api-empty)
qmk-api-tab := $(qmk-api-empty)	$(qmk-api-empty)
qmk-api-hash := \#
qmk-api-comma := ,
qmk-api-open := (
qmk-api-close := )
define qmk-api-newline


endef

# Text as part of a variable's name: each character a name cannot hold (or that
# separates the parts) becomes %-escaped, % itself first, so that different texts stay
# different names.
qmk-api-escape = $(subst $(qmk-api-tab),%t,$(subst $(qmk-api-space),%s,$(subst :,%c,$(subst $(qmk-api-hash),%h,$(subst =,%e,$(subst $$,%d,$(subst $(qmk-api-open),%o,$(subst $(qmk-api-close),%x,$(subst $(qmk-api-comma),%m,$(subst |,%b,$(subst %,%p,$(1))))))))))))

# What cc-option's definition refers to beside $(shell ...), $(CC) and its arguments.
qmk-api-rest := $(subst $$$(qmk-api-open)shell,,$(subst $$(CC),,$(subst $$(1),,$(subst $$(2),,$(subst $$(3),,$(value cc-option))))))

ifeq ($(flavor cc-option)$(findstring $$,$(qmk-api-rest)),recursive)
$(eval define qmk-api-cc-option$(qmk-api-newline)$(value cc-option)$(qmk-api-newline)endef)
# $(1): the kept result's variable; $(2) $(3) $(4): cc-option's arguments.
qmk-api-kept = $(if $(filter undefined,$(origin $(1))),$(eval $(1) := $$(call qmk-api-cc-option,$$(2),$$(3),$$(4))))$($(1))
cc-option = $(if $(findstring $(qmk-api-newline),$(1)$(2)$(3)$(CC)),$(call qmk-api-cc-option,$(1),$(2),$(3)),$(call qmk-api-kept,qmk-api-probe-$(call qmk-api-escape,$(1))|$(call qmk-api-escape,$(2))|$(call qmk-api-escape,$(3))|$(call qmk-api-escape,$(CC)),$(1),$(2),$(3)))
endif
