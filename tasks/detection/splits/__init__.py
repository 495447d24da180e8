"""Split files shipped with the detection task (package data): ``m3fd_{train,val,test}.txt``, one pair id a line.

M3FD has no official split; see the header of each file for where these lists come from.
"""
