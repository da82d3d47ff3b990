#!/usr/bin/perl
# cufilter.pl IN.cu OUT.cc: the CUDA source as C++ for the harness (cudaemu.h). A launch
# kernel<<<grid, block, shm, stream>>>(args) becomes
# cudaemu_launch(__FILE__, __LINE__, "kernel", grid, block, shm, stream).go(kernel)(args), and a
# __shared__ variable a reference to per-block storage. No line is added or removed, so __LINE__
# and compiler messages name the lines of IN.
use strict;
use warnings;
my ($in, $out) = @ARGV;
die "usage: cufilter.pl IN.cu OUT.cc\n" unless defined $out;
open(my $fh, '<', $in) or die "cufilter.pl: cannot read $in: $!\n";
my $src = do { local $/; <$fh> };
close $fh;
# the kernel name, with template arguments without nested <>, then the launch configuration
$src =~ s{\b([A-Za-z_]\w*(?:<[^<>;()]*>)?)\s*<<<(.*?)>>>\s*\(}{
    my ($k, $cfg) = ($1, $2);
    (my $name = $k) =~ s/"/\\"/g;
    "cudaemu_launch(__FILE__, __LINE__, \"$name\", $cfg).go($k)("
}gse;
$src =~ s{__shared__\s+([^;{}]*?)\s*\b([A-Za-z_]\w*)\s*((?:\[[^\]]*\]\s*)*);}{
    my ($type, $name, $dims) = ($1, $2, $3);
    $dims =~ s/\s+$//;
    my $ref = $dims eq '' ? "&$name" : "(&$name)$dims";
    "static cudaemu_shared<$type$dims> ${name}_emu; $type $ref = ${name}_emu.get();"
}ge;
open(my $oh, '>', "$out.tmp") or die "cufilter.pl: cannot write $out: $!\n";
print $oh "#line 1 \"$in\"\n", $src;
close $oh or die "cufilter.pl: cannot write $out: $!\n";
rename("$out.tmp", $out) or die "cufilter.pl: cannot write $out: $!\n";
