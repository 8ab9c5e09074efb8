// SPDX-License-Identifier: GPL-2.0-only
/// Find device references taken by a lookup and never dropped.
///
/// of_find_device_by_node(), bus_find_device*(), driver_find_device*(),
/// class_find_device*(), device_find_child*(), get_device() and the
/// platform, i2c and spi wrappers of these return a device with a reference
/// held for the caller, even when the caller only wants its driver data.
/// Report a lookup whose result reaches a return on some path without
/// put_device() (or the wrapper's put), without being returned, stored or
/// handed to devm_add_action*(); a lookup stored in a structure field
/// that no put in the file drops; and a lookup whose result is not kept.
///
/// Not reported: returns in the branch of a NULL test of the result, a
/// variable declared __free(), a lookup preceded by a comment naming
/// put_device() (the driver that drops it elsewhere), and a getter that
/// returns a pointer from a file with its own put function.
///
// Confidence: High
// Comments: One file at a time: a field dropped in another file is
//  reported unless the lookup says who drops it in a comment; a put through
//  an alias or a helper is not seen.  The getter rule trusts that a file
//  with a put function pairs it with its getters.
// Options: --no-includes --include-headers

virtual report
virtual org
virtual context

@initialize:python@
@@
import re

# (file, field) pairs some put in the file drops.
dropped = set()
# (file, function) pairs of the functions that drop a reference.
putters = set()
# Positions and position pairs that are not leaks.
fine = set()
reported = set()

LOOKUP = re.compile(r"^(of_find_device_by_node|bus_find_device(_by_[a-z_]+)?|bus_find_next_device|driver_find_device(_by_[a-z_]+)?|driver_find_next_device|class_find_device(_by_[a-z_]+)?|device_find_child(_by_[a-z_]+)?|device_find_any_child|get_device|platform_find_device_by_driver|of_find_i2c_device_by_node|of_find_i2c_adapter_by_node|of_get_i2c_adapter_by_node|i2c_find_device_by_fwnode|i2c_find_adapter_by_fwnode|i2c_get_adapter_by_fwnode|of_find_spi_device_by_node|spi_find_device_by_fwnode|acpi_spi_find_device_by_adev)$")

def is_lookup(f):
	return LOOKUP.match(f) is not None

def pos(p):
	return (p.file, p.line, p.column)

def keep(key):
	"""Report each (lookup, site) once."""
	if key in reported:
		return False
	reported.add(key)
	return True

def leaks(p1, p2):
	return (pos(p2) not in fine and ("lookup",) + pos(p1) not in fine and
		("getter",) + pos(p1) + pos(p2) not in fine)

// The fields that a put in this file drops: put_device(E->fld),
// put_device(E->fld[i]), put_device(&E->fld->dev), ...
@drop@
expression E, E2;
identifier fld;
identifier put =~ "^(platform_device_put|of_dev_put|spi_dev_put|i2c_put_adapter)$";
position p;
@@
(
 put_device@p(E->fld)
|
 put_device@p(E.fld)
|
 put_device@p(E->fld[E2])
|
 put_device@p(&E->fld->dev)
|
 put_device@p(&E.fld->dev)
|
 put_device@p(&E->fld[E2]->dev)
|
 put@p(E->fld)
|
 put@p(E.fld)
|
 put@p(E->fld[E2])
)

@script:python@
fld << drop.fld;
p << drop.p;
@@
dropped.add((p[0].file, fld))

// The same through a local: dev = E->fld; ... put_device(dev);
@dropalias exists@
expression E, E2;
identifier x, fld;
identifier put =~ "^(put_device|platform_device_put|of_dev_put|spi_dev_put|i2c_put_adapter)$";
type T;
position p;
@@
(
 x = \(E->fld\|E.fld\|E->fld[E2]\);
|
 T x = \(E->fld\|E.fld\|E->fld[E2]\);
)
... when any
\(put@p(x)\|put_device@p(&x->dev)\)

@script:python@
fld << dropalias.fld;
p << dropalias.p;
@@
dropped.add((p[0].file, fld))

@putter@
identifier put =~ "^(put_device|platform_device_put|of_dev_put|spi_dev_put|i2c_put_adapter)$";
position p;
@@
put@p(...)

@script:python@
p << putter.p;
@@
putters.add((p[0].file, p[0].current_element))

// Returns in the NULL branch of a test of a lookup's result.
@nulltest exists@
identifier id;
identifier f : script:python () { is_lookup(f) };
position p;
statement S;
type T;
@@
(
 id = f(...);
|
 T id = f(...);
)
... when any
(
 if (<+... \(!id\|id == NULL\|IS_ERR_OR_NULL(id)\) ...+>) return@p ...;
|
 if (<+... \(!id\|id == NULL\|IS_ERR_OR_NULL(id)\) ...+>) { ... return@p ...; }
|
 if (<+... \(!id\|id == NULL\|IS_ERR_OR_NULL(id)\) ...+>) { ... return@p ...; } else S
|
 if (<+... \(!id\|id == NULL\|IS_ERR_OR_NULL(id)\) ...+>) return@p ...; else S
)

@script:python@
p << nulltest.p;
@@
fine.add(pos(p[0]))

// A comment naming put_device() right before the lookup says who drops
// it: "/* The CMDQV driver is responsible for put_device() */".
@annotated@
comments c;
identifier f : script:python () { is_lookup(f) };
expression E;
type T;
identifier id;
position p;
@@
(
 E@c = f@p(...);
|
 T id@c = f@p(...);
)

@script:python@
c << annotated.c;
p << annotated.p;
@@
if "put_device" in c[0].before:
	fine.add(("lookup",) + pos(p[0]))

// A reference whose put is left to devm_add_action*().
@devm exists@
identifier f : script:python () { is_lookup(f) };
position p;
@@
f@p(...)
... when any
\(devm_add_action\|devm_add_action_or_reset\)(...)

@script:python@
p << devm.p;
@@
fine.add(("lookup",) + pos(p[0]))

// A variable declared __free(put_device) is dropped when it goes out of
// scope.
@freed@
identifier id, f;
type T;
position p;
attribute name __free;
@@
T id __free(...) = f@p(...);

@script:python@
p << freed.p;
@@
fine.add(("lookup",) + pos(p[0]))

// A getter returning a pointer it found through the device, from a file
// with a function that drops it: tegra_xusb_padctl_get()/_put().
@getter exists@
identifier fn, id, x;
identifier f : script:python () { is_lookup(f) };
type T, T2;
position p1, p2;
@@
T2 *fn(...)
{
...
(
 id = f@p1(...);
|
 T id = f@p1(...);
)
...
return@p2 x;
}

@script:python@
p1 << getter.p1;
p2 << getter.p2;
@@
fn = p1[0].current_element
if any(k[0] == p1[0].file and k[1] != fn for k in putters):
	fine.add(("getter",) + pos(p1[0]) + pos(p2[0]))

// A reference that reaches a return.
@leak exists@
identifier id;
identifier to =~ "^to_";
identifier f : script:python () { is_lookup(f) };
identifier put =~ "^(platform_device_put|of_dev_put|spi_dev_put|i2c_put_adapter|i2c_unregister_device)$";
expression E, E1, E3;
statement S;
type T, T1;
position p1, p2;
@@
(
 id = f@p1(...);
|
 T id = f@p1(...);
)
... when != put_device(id)
    when != put_device(&id->dev)
    when != put(id)
    when != if (id) S
    when != if (id != NULL) S
    when != E3 = id
    when != E3 = &id->dev
    when != E3 = (T1)id
    when != to(id)
    when != to(&id->dev)
    when != get_device(&id->dev)
    when != \(devm_add_action\|devm_add_action_or_reset\)(...)
    when != no_free_ptr(id)
    when != return_ptr(id)
    when != id = E3
(
 return \(id\|&id->dev\|(T1)id\|to(id)\|to(&id->dev)\|container_of(id, ...)\);
|
 return E ? \(id\|&id->dev\|(T1)id\|to(id)\|to(&id->dev)\) : E1;
|
 return E ? E1 : \(id\|&id->dev\|(T1)id\|to(id)\|to(&id->dev)\);
|
 return@p2 ...;
)

@script:python@
p1 << leak.p1;
p2 << leak.p2;
@@
if not (leaks(p1[0], p2[0]) and keep((pos(p1[0]), pos(p2[0])))):
	cocci.include_match(False)

@script:python depends on report@
p1 << leak.p1;
p2 << leak.p2;
f << leak.f;
@@
coccilib.report.print_report(p1[0],
	"WARNING: %s(): the reference from %s() on line %s is not dropped on the return on line %s"
	% (p1[0].current_element, f, p1[0].line, p2[0].line))

@script:python depends on org@
p1 << leak.p1;
p2 << leak.p2;
f << leak.f;
@@
cocci.print_main("%s(): reference from %s()" % (p1[0].current_element, f), p1)
cocci.print_secs("return without put_device()", p2)

@depends on context@
identifier leak.f;
position leak.p1;
@@
* f@p1(...)

@depends on context@
position leak.p2;
@@
* return@p2 ...;

// A reference stored in a field that no put in this file drops.
@store exists@
identifier id;
identifier f : script:python () { is_lookup(f) };
identifier put =~ "^(platform_device_put|of_dev_put|spi_dev_put|i2c_put_adapter)$";
expression E, E2, E3;
identifier fld;
type T, T1;
position p1, p2;
@@
(
(
 id = f@p1(...);
|
 T id = f@p1(...);
)
... when != put_device(id)
    when != put_device(&id->dev)
    when != put(id)
    when != id = E3
(
 E->fld@p2 = \(id\|&id->dev\|(T1)id\)
|
 E.fld@p2 = \(id\|&id->dev\|(T1)id\)
|
 E->fld[E2]@p2 = \(id\|&id->dev\|(T1)id\)
)
... when != put_device(id)
    when != put_device(&id->dev)
    when != put(id)
    when != \(devm_add_action\|devm_add_action_or_reset\)(...)
return ...;
|
 E->fld@p2 = f@p1(...)
|
 E.fld@p2 = f@p1(...)
|
 E->fld[E2]@p2 = f@p1(...)
|
 E->fld@p2 = &f@p1(...)->dev
|
 E.fld@p2 = &f@p1(...)->dev
)

@script:python@
p1 << store.p1;
p2 << store.p2;
fld << store.fld;
@@
if not ((p1[0].file, fld) not in dropped and
	("lookup",) + pos(p1[0]) not in fine and
	keep((pos(p1[0]), pos(p2[0])))):
	cocci.include_match(False)

@script:python depends on report@
p1 << store.p1;
p2 << store.p2;
f << store.f;
fld << store.fld;
@@
coccilib.report.print_report(p1[0],
	"WARNING: %s(): the reference from %s() on line %s is stored in ->%s on line %s, which no put in this file drops"
	% (p1[0].current_element, f, p1[0].line, fld, p2[0].line))

@script:python depends on org@
p1 << store.p1;
p2 << store.p2;
f << store.f;
fld << store.fld;
@@
cocci.print_main("%s(): reference from %s()" % (p1[0].current_element, f), p1)
cocci.print_secs("stored in ->%s, which no put in this file drops" % fld, p2)

@depends on context@
identifier store.f;
position store.p1;
@@
* f@p1(...)

@depends on context@
position store.p2;
expression E;
@@
* E@p2

// A reference nobody can drop: the result is discarded or only tested.
// get_device(dev) on a device the caller already holds is not a lookup.
@unkept@
identifier f : script:python () { is_lookup(f) and f != "get_device" };
position p;
statement S1, S2;
@@
(
 f@p(...);
|
 if (<+... f@p(...) ...+>) S1 else S2
|
 if (<+... f@p(...) ...+>) S1
)

@script:python@
f << unkept.f;
p << unkept.p;
@@
if not keep(pos(p[0])):
	cocci.include_match(False)

@script:python depends on report@
f << unkept.f;
p << unkept.p;
@@
coccilib.report.print_report(p[0],
	"WARNING: %s(): the reference from %s() on line %s is not kept, so it cannot be dropped"
	% (p[0].current_element, f, p[0].line))

@script:python depends on org@
f << unkept.f;
p << unkept.p;
@@
cocci.print_main("%s(): reference from %s() not kept" % (p[0].current_element, f), p)

@depends on context@
identifier unkept.f;
position unkept.p;
@@
* f@p(...)
